;; RC4 keystream XOR, in WebAssembly text. provider/crypto/rc4.ts runs it; the binary it loads,
;; provider/crypto/rc4-wasm.ts, is this file assembled by `npm run build:wasm`
;; (test/setup/assemble-wasm.mjs), and test/unit/crypto/rc4-wasm.test.ts assembles it again and
;; compares, so the binary in the repository is always this source's.
;;
;; Why WebAssembly: RC4 is a serial byte loop (RFC 6229; MS-NLMP 3.4.3 keeps one keystream per
;; direction), and V8's JIT runs the JavaScript loop at 420 to 680 MB/s depending on the Node
;; version; this runs it at about 740 MB/s on all of them, above OpenSSL's 660 MB/s on the same
;; machine (bench:seal measures it beside OpenSSL).
;;
;; Memory layout (one page at least; the caller grows it for longer data):
;;   [0, 256)     the permutation S
;;   256, 257     the indices i and j
;;   [1024, ...)  the data, XORed with the keystream in place
(module
  (memory (export "memory") 1)

  ;; XORs the next `length` keystream bytes into the data at offset 1024, four bytes per step
  ;; (built little-endian, as WebAssembly memory is) and then the remaining zero to three.
  (func (export "xorKeystream") (param $length i32)
    (local $i i32) (local $j i32) (local $si i32) (local $sj i32)
    (local $at i32) (local $wordsEnd i32) (local $end i32) (local $word i32)
    (local.set $i (i32.load8_u (i32.const 256)))
    (local.set $j (i32.load8_u (i32.const 257)))
    (local.set $at (i32.const 1024))
    (local.set $end (i32.add (i32.const 1024) (local.get $length)))
    (local.set $wordsEnd
      (i32.add (i32.const 1024) (i32.and (local.get $length) (i32.const -4))))
    (if (i32.lt_u (local.get $at) (local.get $wordsEnd))
      (then
        (loop $word
          ;; keystream byte 0
          (local.set $i (i32.and (i32.add (local.get $i) (i32.const 1)) (i32.const 255)))
          (local.set $si (i32.load8_u (local.get $i)))
          (local.set $j (i32.and (i32.add (local.get $j) (local.get $si)) (i32.const 255)))
          (local.set $sj (i32.load8_u (local.get $j)))
          (i32.store8 (local.get $i) (local.get $sj))
          (i32.store8 (local.get $j) (local.get $si))
          (local.set $word
            (i32.load8_u (i32.and (i32.add (local.get $si) (local.get $sj)) (i32.const 255))))
          ;; keystream byte 1
          (local.set $i (i32.and (i32.add (local.get $i) (i32.const 1)) (i32.const 255)))
          (local.set $si (i32.load8_u (local.get $i)))
          (local.set $j (i32.and (i32.add (local.get $j) (local.get $si)) (i32.const 255)))
          (local.set $sj (i32.load8_u (local.get $j)))
          (i32.store8 (local.get $i) (local.get $sj))
          (i32.store8 (local.get $j) (local.get $si))
          (local.set $word
            (i32.or (local.get $word)
              (i32.shl
                (i32.load8_u (i32.and (i32.add (local.get $si) (local.get $sj)) (i32.const 255)))
                (i32.const 8))))
          ;; keystream byte 2
          (local.set $i (i32.and (i32.add (local.get $i) (i32.const 1)) (i32.const 255)))
          (local.set $si (i32.load8_u (local.get $i)))
          (local.set $j (i32.and (i32.add (local.get $j) (local.get $si)) (i32.const 255)))
          (local.set $sj (i32.load8_u (local.get $j)))
          (i32.store8 (local.get $i) (local.get $sj))
          (i32.store8 (local.get $j) (local.get $si))
          (local.set $word
            (i32.or (local.get $word)
              (i32.shl
                (i32.load8_u (i32.and (i32.add (local.get $si) (local.get $sj)) (i32.const 255)))
                (i32.const 16))))
          ;; keystream byte 3
          (local.set $i (i32.and (i32.add (local.get $i) (i32.const 1)) (i32.const 255)))
          (local.set $si (i32.load8_u (local.get $i)))
          (local.set $j (i32.and (i32.add (local.get $j) (local.get $si)) (i32.const 255)))
          (local.set $sj (i32.load8_u (local.get $j)))
          (i32.store8 (local.get $i) (local.get $sj))
          (i32.store8 (local.get $j) (local.get $si))
          (local.set $word
            (i32.or (local.get $word)
              (i32.shl
                (i32.load8_u (i32.and (i32.add (local.get $si) (local.get $sj)) (i32.const 255)))
                (i32.const 24))))
          (i32.store (local.get $at) (i32.xor (i32.load (local.get $at)) (local.get $word)))
          (local.set $at (i32.add (local.get $at) (i32.const 4)))
          (br_if $word (i32.lt_u (local.get $at) (local.get $wordsEnd))))))
    (if (i32.lt_u (local.get $at) (local.get $end))
      (then
        (loop $byte
          (local.set $i (i32.and (i32.add (local.get $i) (i32.const 1)) (i32.const 255)))
          (local.set $si (i32.load8_u (local.get $i)))
          (local.set $j (i32.and (i32.add (local.get $j) (local.get $si)) (i32.const 255)))
          (local.set $sj (i32.load8_u (local.get $j)))
          (i32.store8 (local.get $i) (local.get $sj))
          (i32.store8 (local.get $j) (local.get $si))
          (i32.store8 (local.get $at)
            (i32.xor (i32.load8_u (local.get $at))
              (i32.load8_u (i32.and (i32.add (local.get $si) (local.get $sj)) (i32.const 255)))))
          (local.set $at (i32.add (local.get $at) (i32.const 1)))
          (br_if $byte (i32.lt_u (local.get $at) (local.get $end))))))
    (i32.store8 (i32.const 256) (local.get $i))
    (i32.store8 (i32.const 257) (local.get $j))))

/*
 * fs-faults: an LD_PRELOAD library that makes a process's file system behave, for a few calls,
 * as Windows does or as a failing disk would, so the upload scripts can be proven against those
 * failures in real pwsh. It wraps rename(2), link(2) and unlink(2), the calls through which .NET
 * on Linux implements File.Replace, File.Move and File.Delete; every other call is untouched.
 *
 * FS_FAULTS_WINDOWS_READONLY=1
 *   A file with no write permission bit is read-only, as the ReadOnly attribute makes it on
 *   Windows: replacing it (a rename or link onto it) and deleting it fail with EACCES, as
 *   MoveFileEx, ReplaceFile and DeleteFile fail with ERROR_ACCESS_DENIED. Renaming it away
 *   still works, as on Windows.
 * FS_FAULTS_REFUSE_ONTO=<fnmatch pattern> and FS_FAULTS_REFUSE_FROM=<fnmatch pattern>
 *   A rename or link onto a path that matches the first pattern, from a file whose name (last
 *   component) matches the second, fails with EACCES: a destination name that cannot take a
 *   new file, as a Windows name still held by a file deleted while another process has it
 *   open. Creating a file at such a path (open with O_CREAT, which .NET falls back to, copying,
 *   when a link is refused) fails the same way.
 * FS_FAULTS_REFUSE_UNLINK=<fnmatch pattern>
 *   Deleting a file at a matching path fails with EACCES, as DeleteFile fails on a file that
 *   another process holds open without delete sharing.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int windows_read_only(const char *path) {
  const char *on = getenv("FS_FAULTS_WINDOWS_READONLY");
  struct stat st;
  if (on == NULL || strcmp(on, "1") != 0) return 0;
  if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
  return (st.st_mode & (S_IWUSR | S_IWGRP | S_IWOTH)) == 0;
}

static int refused_onto(const char *from, const char *to) {
  const char *onto = getenv("FS_FAULTS_REFUSE_ONTO");
  const char *pattern = getenv("FS_FAULTS_REFUSE_FROM");
  const char *name = strrchr(from, '/');
  if (onto == NULL || pattern == NULL || fnmatch(onto, to, 0) != 0) return 0;
  return fnmatch(pattern, name == NULL ? from : name + 1, 0) == 0;
}

static int refused_creation(const char *path, int flags) {
  const char *onto = getenv("FS_FAULTS_REFUSE_ONTO");
  return (flags & O_CREAT) != 0 && onto != NULL && fnmatch(onto, path, 0) == 0;
}

static int refuse(void) {
  errno = EACCES;
  return -1;
}

int rename(const char *from, const char *to) {
  static int (*real)(const char *, const char *);
  if (real == NULL) real = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
  if (windows_read_only(to) || refused_onto(from, to)) return refuse();
  return real(from, to);
}

int link(const char *from, const char *to) {
  static int (*real)(const char *, const char *);
  if (real == NULL) real = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "link");
  if (refused_onto(from, to)) return refuse();
  return real(from, to);
}

int unlink(const char *path) {
  static int (*real)(const char *);
  const char *refused = getenv("FS_FAULTS_REFUSE_UNLINK");
  if (real == NULL) real = (int (*)(const char *))dlsym(RTLD_NEXT, "unlink");
  if (windows_read_only(path)) return refuse();
  if (refused != NULL && fnmatch(refused, path, 0) == 0) return refuse();
  return real(path);
}

/* open, open64 and openat: the mode argument is there only with O_CREAT (or O_TMPFILE). */
#define WRAP_OPEN(name)                                                      \
  int name(const char *path, int flags, ...) {                               \
    static int (*real)(const char *, int, ...);                              \
    va_list ap;                                                              \
    mode_t mode;                                                             \
    va_start(ap, flags);                                                     \
    mode = (mode_t)va_arg(ap, int);                                          \
    va_end(ap);                                                              \
    if (real == NULL) real = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, #name); \
    if (refused_creation(path, flags)) return refuse();                      \
    return real(path, flags, mode);                                          \
  }
WRAP_OPEN(open)
WRAP_OPEN(open64)

int openat(int dir, const char *path, int flags, ...) {
  static int (*real)(int, const char *, int, ...);
  va_list ap;
  mode_t mode;
  va_start(ap, flags);
  mode = (mode_t)va_arg(ap, int);
  va_end(ap);
  if (real == NULL) real = (int (*)(int, const char *, int, ...))dlsym(RTLD_NEXT, "openat");
  if (refused_creation(path, flags)) return refuse();
  return real(dir, path, flags, mode);
}

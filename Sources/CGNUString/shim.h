#ifndef MODELFLAG_CGNUSTRING_SHIM_H
#define MODELFLAG_CGNUSTRING_SHIM_H
/* glibc's GNU string functions that Swift's Glibc module leaves out (it is built without
 * _GNU_SOURCE). Declared here with glibc's prototypes; the symbols are in libc itself. */
#include <stddef.h>

/* The first occurrence of needle in haystack, or NULL (glibc 2.36: a skip over byte pairs). */
void *memmem(const void *haystack, size_t haystacklen, const void *needle, size_t needlelen);
#endif

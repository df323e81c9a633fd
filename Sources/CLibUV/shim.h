#ifndef MODELFLAG_CLIBUV_SHIM_H
#define MODELFLAG_CLIBUV_SHIM_H
/* The libuv API, plus the socket headers UVCore needs to open listeners with
 * SO_REUSEPORT itself (libuv 1.44 has no UV_TCP_REUSEPORT flag). */
#include <uv.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#endif

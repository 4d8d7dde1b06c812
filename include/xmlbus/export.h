/* XB_EXPORT marks the declarations of the public API (docs/api.md).
 *
 * The library is compiled with -fvisibility=hidden, so that libxmlbus.so
 * exports exactly the functions declared with XB_EXPORT in include/xmlbus
 * and nothing of its internals. For a program that includes the headers the
 * attribute changes nothing. */
#ifndef XMLBUS_EXPORT_H
#define XMLBUS_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define XB_EXPORT __attribute__((visibility("default")))
#else
#define XB_EXPORT
#endif

#endif

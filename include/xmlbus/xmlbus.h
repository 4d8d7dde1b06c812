/* The whole public API of xmlbus in one include (docs/api.md).
 *
 *     #include <xmlbus/xmlbus.h>      cc prog.c $(pkg-config --cflags --libs xmlbus)
 *
 * Every header of include/xmlbus is public and installed; everything else
 * (bus/, pump/, listeners/lib/) is internal and not exported by libxmlbus.so. */
#ifndef XMLBUS_XMLBUS_H
#define XMLBUS_XMLBUS_H

#include "xmlbus/backend.h"  /* storage backends: open one, read threads and registry */
#include "xmlbus/buffer.h"   /* the context buffer over a backend */
#include "xmlbus/client.h"   /* talk to a running pump: send, receive, control */
#include "xmlbus/config.h"   /* organism.yaml */
#include "xmlbus/envelope.h" /* parse and build envelopes */
#include "xmlbus/error.h"    /* xb_error_t and the error codes */
#include "xmlbus/export.h"   /* XB_EXPORT */
#include "xmlbus/keys.h"     /* CURVE keys and key files */
#include "xmlbus/listener.h" /* write a listener */
#include "xmlbus/pump.h"     /* embed a pump */
#include "xmlbus/slot.h"     /* recorded messages */
#include "xmlbus/uuid.h"     /* thread and message ids */
#include "xmlbus/wmem.h"     /* working memory of a conversation */
#include "xmlbus/xmlsafe.h"  /* hardened XML intake */

#endif

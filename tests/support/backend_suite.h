/* One CUnit suite that checks a backend against the whole interface of
 * include/xmlbus/backend.h. Every implementation runs it from its own test:
 *
 *     static xb_backend_t *open_fresh(const xb_backend_config_t *limits)
 *     {
 *         xb_backend_config_t cfg;
 *         xb_backend_config_defaults(&cfg);
 *         cfg.type = XB_BACKEND_MANAGER;
 *         ... a new empty location (temp dir, fresh Redis prefix or db) ...
 *         xb_backend_suite_apply_limits(&cfg, limits);
 *         xb_error_t err;
 *         return xb_backend_new(&cfg, &err);   // NULL fails the test
 *     }
 *     static void close_it(xb_backend_t *b) { xb_backend_destroy(&b); ... remove files ... }
 *
 *     static int contract_init(void) { return xb_backend_suite_use(open_fresh, close_it); }
 *
 *     XBT_SUITES({"backend suite on lmdb", contract_init, xb_backend_suite_done, NULL, NULL,
 *                 xb_backend_suite_tests},
 *                ... own suites ...);
 *
 * The contract the suite checks (see docs/storage.md, "Backend contract"):
 *   - append returns 0, 1, 2 ... per thread; a deleted thread starts at 0 again;
 *   - get_thread of an unknown thread is 0 with an empty list; thread_len 0;
 *     exists false; delete_thread 0 with *deleted false;
 *   - get_slot of an unknown thread or an index out of range -> XB_ERR_NOTFOUND;
 *   - slots are binary-safe (zero bytes inside) and returned byte for byte;
 *   - thread names, chains and uuids are arbitrary non-empty strings (glob
 *     characters * ? [ ] and ':' included) and never match each other;
 *   - buffer_clear removes every thread and keeps the registry; registry_clear
 *     the reverse;
 *   - the registry is a bijection: set(chain, uuid) removes any earlier pair
 *     of that chain and any earlier pair of that uuid, in both directions;
 *     delete(uuid) removes both directions (*deleted false when unknown);
 *     get_uuid/get_chain of an unknown key -> XB_ERR_NOTFOUND;
 *   - registry_apply applies its SET/DELETE ops in order with the same
 *     contract (set then delete of one uuid leaves nothing; two sets of one
 *     chain keep only the last uuid; deleting an unknown uuid is fine);
 *     n == 0 does nothing; one bad op is XB_ERR_ARG and applies none of the
 *     batch; 2000 ops in one batch work;
 *   - info: threads, slots (or -1), registry_entries, limit_refusals exact;
 *     type is xb_backend_type_name of the configured type;
 *   - max_slots_per_thread / max_slot_bytes refuse with XB_ERR_LIMIT, store
 *     nothing (a refused append creates no thread) and count limit_refusals;
 *   - 4 threads x 2000 concurrent appends lose nothing and get unique,
 *     contiguous indexes;
 *   - the journal (manager, redis): an entry is written with its slot, only
 *     if the slot was stored; put replaces; remove ignores unknown ids;
 *     buffer_clear empties it; memory has none (XB_ERR_CONFIG);
 *   - working memory (xb_backend_suite_wmem_tests, backend_suite_wmem.c):
 *     put/get/list/drop round trip, replace by name, a put refused by a limit
 *     writes nothing, conversations never mix, an unknown conversation lists
 *     empty and drops fine; buffer_append_all stores a slot's writes with it
 *     and refuses them with it (limit, bad writes, full thread: the batch
 *     stops at that slot), across Redis chunks and with the journal.
 * One backend is checked at a time: the one the running suite's init chose. */
#ifndef XB_TEST_BACKEND_SUITE_H
#define XB_TEST_BACKEND_SUITE_H

#include "xbt_main.h"
#include "xmlbus/backend.h"

/* Opens a new, EMPTY backend. limits is NULL (the default limits) or a
 * config whose limits the factory must apply (xb_backend_suite_apply_limits);
 * its other fields mean nothing. */
typedef xb_backend_t *(*xb_backend_suite_open_fn)(const xb_backend_config_t *limits);
/* Closes a backend that open_fresh returned (and removes its files/keys). */
typedef void (*xb_backend_suite_close_fn)(xb_backend_t *b);

/* The contract's tests, for an entry of XBT_SUITES (ends with {NULL, NULL}). */
extern const xbt_test_t xb_backend_suite_tests[];
/* The working memory part of the contract, for one more entry of
 * XBT_SUITES with the same init and clean. */
extern const xbt_test_t xb_backend_suite_wmem_tests[];

/* A new backend from the running suite's factory (NULL fails the test), and
 * its close: for the tests of the contract spread over several files. */
xb_backend_t *xb_backend_suite_open(const xb_backend_config_t *limits);
void xb_backend_suite_close(xb_backend_t *b);

/* Makes the contract's tests check the backends open_fresh opens and close
 * closes; call it from the suite's init. Returns 0, or -1 (a NULL argument). */
int xb_backend_suite_use(xb_backend_suite_open_fn open_fresh, xb_backend_suite_close_fn close);

/* The suite's clean: forgets the factory. Returns 0. */
int xb_backend_suite_done(void);

/* Copies the limits of `limits` (may be NULL) into cfg: max_slots_per_thread,
 * max_threads, max_slot_bytes, max_wmem_entries, max_wmem_entry_bytes. */
void xb_backend_suite_apply_limits(xb_backend_config_t *cfg, const xb_backend_config_t *limits);

#endif

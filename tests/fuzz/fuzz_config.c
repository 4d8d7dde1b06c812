/* Fuzz target: the organism.yaml loader (bus/config*.c) from a string.
 * Relative paths resolve against a folder that does not exist, so that the
 * target never touches a file: schema paths are reported as unreadable.
 * Promises checked: a refusal says where and why; a loaded config holds
 * valid, unique listener names, and pipelines with valid names of their
 * own, an output and steps. */
#include <string.h>

#include "fuzz.h"
#include "xmlbus/config.h"

#define BASE_DIR "/nonexistent/xmlbus-fuzz"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    xb_error_t err;
    xb_config_t *cfg = xb_config_load_string((const char *)data, size, "fuzz.yaml", BASE_DIR, &err);
    if (!cfg) {
        XB_FUZZ_CHECK(err.code != XB_OK && err.message[0]);
        return 0;
    }
    XB_FUZZ_CHECK(xb_config_valid_name(cfg->name));
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        const xb_listener_config_t *l = &cfg->listeners[i];
        XB_FUZZ_CHECK(xb_config_valid_name(l->name));
        XB_FUZZ_CHECK(xb_config_listener(cfg, l->name) == l);
        XB_FUZZ_CHECK(!l->command || l->command[l->n_command] == NULL);
    }
    for (size_t i = 0; i < cfg->n_pipelines; i++) {
        const xb_pipeline_config_t *p = &cfg->pipelines[i];
        XB_FUZZ_CHECK(xb_config_valid_name(p->name));
        XB_FUZZ_CHECK(xb_config_pipeline(cfg, p->name) == p);
        XB_FUZZ_CHECK(xb_config_listener(cfg, p->name) == NULL);
        XB_FUZZ_CHECK(xb_config_valid_entry_name(p->output) && p->n_steps > 0);
    }
    xb_config_destroy(&cfg);
    XB_FUZZ_CHECK(cfg == NULL);
    return 0;
}

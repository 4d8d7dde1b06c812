/* pipeline-summarize, the listener "summarizer": the last step. Gets an
 * empty <summarize/> and the entries document, word_counts, keywords and
 * paragraph_summaries; responds with the <summary> (schemas/summary.xsd,
 * textmill_summarize) that the pump stores as the entry summary and sends to
 * the pipeline's caller. */
#include "textmill.h"

static xmlNodePtr summarize(const xb_msg_t *msg, char *err, size_t errlen)
{
    return textmill_summarize(xb_msg_memory(msg, "document"), xb_msg_memory(msg, "word_counts"),
                              xb_msg_memory(msg, "keywords"),
                              xb_msg_memory(msg, "paragraph_summaries"), err, errlen);
}

int main(int argc, char **argv)
{
    return textmill_main(argc, argv, summarize);
}

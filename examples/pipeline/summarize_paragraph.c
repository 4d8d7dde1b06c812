/* pipeline-summarize-paragraph, the listener "paragraph-summarizer": the
 * step of a batch over the entry tokens. Gets one item,
 * <summarize-paragraph><paragraph>..</paragraph></summarize-paragraph>, and
 * responds <paragraph-summary words="N">its first twelve words…
 * </paragraph-summary> (textmill_summarize_paragraph); the pump collects the
 * items' answers in order as the entry paragraph_summaries. */
#include "textmill.h"

static xmlNodePtr summarize_paragraph(const xb_msg_t *msg, char *err, size_t errlen)
{
    return textmill_summarize_paragraph(xb_msg_payload(msg), err, errlen);
}

int main(int argc, char **argv)
{
    return textmill_main(argc, argv, summarize_paragraph);
}

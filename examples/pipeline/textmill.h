/* textmill: the text work of the pipeline example's five listeners
 * (examples/pipeline/README.md), apart from the listener runtime so that
 * tests/test_pipeline_example.c runs it on plain XML.
 *
 * Each textmill_X function reads the elements it is given (borrowed; NULL
 * stands for a missing entry) and returns a new element, the root of its own
 * document: the caller owns it (hand it to xb_reply_respond or free it with
 * xb_payload_free). On a missing or malformed input, or no memory, it returns
 * NULL with a one-line reason in err (errlen bytes, TEXTMILL_ERR_LEN is
 * enough). Names are compared by local name, whatever the namespace. */
#ifndef TEXTMILL_H
#define TEXTMILL_H

#include <stdbool.h>
#include <stddef.h>

#include "xmlbus/listener.h"

#define TEXTMILL_ERR_LEN 256

/* <document><title>?</title><text>T</text></document> ->
 * <tokens><paragraph><w>word</w>...</paragraph>...</tokens>. Paragraphs end
 * at blank lines; a paragraph without words is left out. A word is a run of
 * ASCII letters and digits, apostrophes and letters beyond ASCII, in
 * lowercase (ASCII only), without apostrophes at its ends; a typographic
 * apostrophe (U+2019) becomes '. */
xmlNodePtr textmill_tokenize(const xmlNode *document, char *err, size_t errlen);

/* <tokens> -> <word_counts words="N" distinct="M"><word n="C">w</word>...
 * </word_counts>: the ten most frequent words, ties in strcmp order. */
xmlNodePtr textmill_count_words(const xmlNode *tokens, char *err, size_t errlen);

/* <tokens> -> <keywords><keyword>w</keyword>...</keywords>: the five most
 * frequent words that are not stopwords and hold a letter, ties in strcmp
 * order. */
xmlNodePtr textmill_keywords(const xmlNode *tokens, char *err, size_t errlen);

/* <summarize-paragraph><paragraph>..</paragraph></summarize-paragraph> (one
 * item of the batch over tokens) -> <paragraph-summary words="N">the first
 * 12 words…</paragraph-summary> (the ellipsis only when words are left out). */
xmlNodePtr textmill_summarize_paragraph(const xmlNode *request, char *err, size_t errlen);

/* The four entries -> <summary><text>TITLE: K paragraphs, N words. (1) ...
 * (2) ...</text><keyword>k</keyword>...</summary> (schemas/summary.xsd).
 * K counts the paragraph summaries, N is word_counts' words. */
xmlNodePtr textmill_summarize(const xmlNode *document, const xmlNode *word_counts,
                              const xmlNode *keywords, const xmlNode *paragraph_summaries,
                              char *err, size_t errlen);

/* True for a word of the built-in English stopword list. */
bool textmill_stopword(const char *word);

/* The work of one program: the element to respond with (caller owns it), or
 * NULL with the reason in err. It reads the message's payload and its
 * working-memory entries (xb_msg_memory). */
typedef xmlNodePtr (*textmill_step_fn)(const xb_msg_t *msg, char *err, size_t errlen);

/* The main of a program: runs a listener (xb_listener_main) whose handler
 * responds with what step returns, or fails the delivery with its reason, so
 * that the pump fails the pipeline. */
int textmill_main(int argc, char **argv, textmill_step_fn step);

#endif

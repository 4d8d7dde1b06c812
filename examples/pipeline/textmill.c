/* textmill: the text work of the pipeline example (textmill.h). Shared by
 * the five programs of examples/pipeline, which CMake links with it. */
#define _POSIX_C_SOURCE 200809L /* strdup, also when built outside this tree with -std=c11 */
#include "textmill.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOP_WORDS 10            /* entries of <word_counts> */
#define TOP_KEYWORDS 5          /* entries of <keywords> */
#define SUMMARY_WORDS 12        /* words of a <paragraph-summary> */
#define ELLIPSIS "\xe2\x80\xa6" /* U+2026 */

/* ---- errors and element checks ------------------------------------------ */

static int failed(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes the reason into err and returns -1, for `return failed(...)`. */
static int failed(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* The reason of a function that returns an element, for `return no_memory(...)`. */
static xmlNodePtr no_memory(char *err, size_t errlen)
{
    failed(err, errlen, "out of memory");
    return NULL;
}

static bool is_element(const xmlNode *n, const char *name)
{
    return n && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

/* 0 when n is the element <name>; -1 with the reason ("the entry 'what' ...")
 * otherwise. */
static int expect(const xmlNode *n, const char *what, const char *name, char *err, size_t errlen)
{
    if (!n)
        return failed(err, errlen, "%s is missing", what);
    if (!is_element(n, name))
        return failed(err, errlen, "%s is <%s>, not <%s>", what, (const char *)n->name, name);
    return 0;
}

/* The next element sibling from n on (n included), NULL when none is left. */
static const xmlNode *element_from(const xmlNode *n)
{
    while (n && n->type != XML_ELEMENT_NODE)
        n = n->next;
    return n;
}

/* ---- a growing string ------------------------------------------------------ */

typedef struct {
    char *s;
    size_t len, cap;
    bool oom;
} sbuf_t;

static void sbuf_add(sbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends the formatted text; on no memory marks b->oom and stops growing. */
static void sbuf_add(sbuf_t *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= SIZE_MAX / 2 - b->len)
        return (void)(b->oom = true);
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = (b->len + (size_t)n + 1) * 2;
        char *s = realloc(b->s, cap);
        if (!s)
            return (void)(b->oom = true);
        b->s = s;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* ---- the words of a <tokens> ------------------------------------------------ */

typedef struct {
    xmlChar **w; /* each from xmlNodeGetContent */
    size_t n, cap;
} words_t;

static void words_free(words_t *ws)
{
    for (size_t i = 0; i < ws->n; i++)
        xmlFree(ws->w[i]);
    free(ws->w);
    *ws = (words_t){0};
}

/* Appends w (taken: freed on failure). Returns 0, or -1 on no memory. */
static int words_push(words_t *ws, xmlChar *w)
{
    if (ws->n == ws->cap) {
        size_t cap = ws->cap ? ws->cap * 2 : 64;
        xmlChar **grown = realloc(ws->w, cap * sizeof *grown);
        if (!grown) {
            xmlFree(w);
            return -1;
        }
        ws->w = grown;
        ws->cap = cap;
    }
    ws->w[ws->n++] = w;
    return 0;
}

/* Appends the words of one <paragraph> (its <w> children; an empty <w> is no
 * word). Returns 0, or -1 with the reason. */
static int paragraph_words(const xmlNode *p, words_t *ws, char *err, size_t errlen)
{
    if (expect(p, "the item", "paragraph", err, errlen) != 0)
        return -1;
    for (const xmlNode *c = element_from(p->children); c; c = element_from(c->next)) {
        if (!is_element(c, "w"))
            return failed(err, errlen, "<paragraph> holds <%s>, not only <w>",
                          (const char *)c->name);
        xmlChar *w = xmlNodeGetContent(c);
        if (!w)
            return failed(err, errlen, "out of memory");
        if (!*w) {
            xmlFree(w);
            continue;
        }
        if (words_push(ws, w) != 0)
            return failed(err, errlen, "out of memory");
    }
    return 0;
}

/* The words of all the paragraphs of the entry tokens, in order. */
static int tokens_words(const xmlNode *tokens, words_t *ws, char *err, size_t errlen)
{
    if (expect(tokens, "the entry 'tokens'", "tokens", err, errlen) != 0)
        return -1;
    for (const xmlNode *p = element_from(tokens->children); p; p = element_from(p->next)) {
        if (!is_element(p, "paragraph"))
            return failed(err, errlen, "<tokens> holds <%s>, not only <paragraph>",
                          (const char *)p->name);
        if (paragraph_words(p, ws, err, errlen) != 0)
            return -1;
    }
    return 0;
}

/* ---- word frequencies ----------------------------------------------------- */

typedef struct {
    const char *word; /* borrowed from the words_t */
    size_t n;
} count_t;

static int by_text(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Most frequent first, then in strcmp order: the same input gives the same
 * list on every machine. */
static int by_count(const void *a, const void *b)
{
    const count_t *x = a, *y = b;
    if (x->n != y->n)
        return x->n > y->n ? -1 : 1;
    return strcmp(x->word, y->word);
}

/* The distinct words of ws with their counts, by_count order, in *out
 * (malloc'd, caller frees; it borrows the words of ws, which is sorted in
 * place). Returns 0, or -1 on no memory. */
static int word_freq(words_t *ws, count_t **out, size_t *distinct)
{
    *out = NULL;
    *distinct = 0;
    if (ws->n == 0)
        return 0;
    qsort(ws->w, ws->n, sizeof *ws->w, by_text);
    count_t *c = malloc(ws->n * sizeof *c);
    if (!c)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < ws->n; i++) {
        const char *w = (const char *)ws->w[i];
        if (k > 0 && strcmp(c[k - 1].word, w) == 0)
            c[k - 1].n++;
        else
            c[k++] = (count_t){w, 1};
    }
    qsort(c, k, sizeof *c, by_count);
    *out = c;
    *distinct = k;
    return 0;
}

/* The words and frequencies of the entry tokens (word_freq). Returns 0, or
 * -1 with the reason (ws freed then). */
static int tokens_freq(const xmlNode *tokens, words_t *ws, count_t **c, size_t *distinct, char *err,
                       size_t errlen)
{
    *c = NULL;
    if (tokens_words(tokens, ws, err, errlen) == 0) {
        if (word_freq(ws, c, distinct) == 0)
            return 0;
        failed(err, errlen, "out of memory");
    }
    words_free(ws);
    return -1;
}

/* ---- tokenizer ------------------------------------------------------------ */

/* Decodes the UTF-8 character at s (at least one byte before the NUL) into
 * *cp and returns its length; a byte that starts no valid character is
 * returned alone as U+FFFD. */
static size_t utf8_char(const unsigned char *s, uint32_t *cp)
{
    size_t len = s[0] < 0x80 ? 1 : s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC0 ? 2 : 0;
    if (len == 1) {
        *cp = s[0];
        return 1;
    }
    uint32_t v = len == 0 ? 0 : s[0] & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) /* the NUL included: never read past it */
            len = 0;
        else
            v = v << 6 | (s[i] & 0x3F);
    }
    if (len == 0) {
        *cp = 0xFFFD;
        return 1;
    }
    *cp = v;
    return len;
}

/* Part of a word: ASCII letters and digits, the apostrophes, letters beyond
 * ASCII. Not: other ASCII, Latin-1 punctuation and signs, × and ÷, the
 * general punctuation and symbol blocks (U+2000-U+2BFF, dashes, quotes,
 * arrows), CJK punctuation (U+3000-U+303F). */
static bool word_char(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') ||
               cp == '\'';
    if (cp == 0x2019)
        return true;
    if (cp < 0xC0 || cp == 0xD7 || cp == 0xF7 || cp == 0xFFFD)
        return false;
    return !(cp >= 0x2000 && cp <= 0x2BFF) && !(cp >= 0x3000 && cp <= 0x303F);
}

/* Adds the word of w[0..len) (its apostrophes at either end dropped) to the
 * paragraph *p, which is made on the first word. Returns 0, or -1. */
static int add_word(xmlNodePtr tokens, xmlNodePtr *p, const char *w, size_t len)
{
    while (len > 0 && *w == '\'') {
        w++;
        len--;
    }
    while (len > 0 && w[len - 1] == '\'')
        len--;
    if (len == 0)
        return 0;
    if (!*p && !(*p = xb_payload_add_child(tokens, "paragraph")))
        return -1;
    return xb_payload_add_text(*p, "w", "%.*s", (int)len, w) ? 0 : -1;
}

/* The words of one line [s, end) into the paragraph *p; word is scratch of
 * at least end - s bytes. Returns 0, or -1 on no memory. */
static int tokenize_line(xmlNodePtr tokens, xmlNodePtr *p, const char *s, const char *end,
                         char *word)
{
    size_t len = 0;
    while (s < end) {
        uint32_t cp;
        size_t n = utf8_char((const unsigned char *)s, &cp);
        if (word_char(cp)) {
            if (cp == 0x2019 || cp == '\'')
                word[len++] = '\'';
            else if (cp >= 'A' && cp <= 'Z')
                word[len++] = (char)(cp - 'A' + 'a');
            else
                for (size_t i = 0; i < n; i++)
                    word[len++] = s[i];
        } else if (len > 0) {
            if (add_word(tokens, p, word, len) != 0)
                return -1;
            len = 0;
        }
        s += n;
    }
    return len > 0 ? add_word(tokens, p, word, len) : 0;
}

static bool blank_line(const char *s, const char *end)
{
    for (; s < end; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\f' && *s != '\v')
            return false;
    return true;
}

/* The <tokens> of text (see textmill_tokenize), or NULL on no memory. */
static xmlNodePtr tokenize_text(const char *text)
{
    size_t size = strlen(text);
    char *word = malloc(size + 1);
    xmlNodePtr tokens = xb_payload_new("tokens");
    if (!word || !tokens) {
        free(word);
        xb_payload_free(tokens);
        return NULL;
    }
    xmlNodePtr p = NULL; /* the paragraph being filled */
    const char *s = text, *stop = text + size;
    while (s < stop) {
        const char *end = memchr(s, '\n', (size_t)(stop - s));
        if (!end)
            end = stop;
        if (blank_line(s, end))
            p = NULL;
        else if (tokenize_line(tokens, &p, s, end, word) != 0)
            break;
        s = end + 1;
    }
    free(word);
    if (s < stop) {
        xb_payload_free(tokens);
        return NULL;
    }
    return tokens;
}

/* The <title> (may be absent) and <text> of the entry document. */
static int document_parts(const xmlNode *document, const xmlNode **title, const xmlNode **text,
                          char *err, size_t errlen)
{
    if (expect(document, "the entry 'document'", "document", err, errlen) != 0)
        return -1;
    *title = *text = NULL;
    for (const xmlNode *c = element_from(document->children); c; c = element_from(c->next)) {
        if (is_element(c, "title") && !*title && !*text)
            *title = c;
        else if (is_element(c, "text") && !*text)
            *text = c;
        else
            return failed(err, errlen, "<document> holds <%s> where <title>? <text> are expected",
                          (const char *)c->name);
    }
    if (!*text)
        return failed(err, errlen, "<document> has no <text>");
    return 0;
}

xmlNodePtr textmill_tokenize(const xmlNode *document, char *err, size_t errlen)
{
    const xmlNode *title, *text;
    if (document_parts(document, &title, &text, err, errlen) != 0)
        return NULL;
    xmlChar *content = xmlNodeGetContent(text);
    xmlNodePtr tokens = content ? tokenize_text((const char *)content) : NULL;
    xmlFree(content);
    return tokens ? tokens : no_memory(err, errlen);
}

/* ---- word counter and keyword extractor ------------------------------------ */

xmlNodePtr textmill_count_words(const xmlNode *tokens, char *err, size_t errlen)
{
    words_t ws = {0};
    count_t *c;
    size_t distinct;
    if (tokens_freq(tokens, &ws, &c, &distinct, err, errlen) != 0)
        return NULL;
    xmlNodePtr out = xb_payload_new("word_counts");
    bool ok = out && xb_payload_set_attr(out, "words", "%zu", ws.n) == 0 &&
              xb_payload_set_attr(out, "distinct", "%zu", distinct) == 0;
    for (size_t i = 0; ok && i < distinct && i < TOP_WORDS; i++) {
        xmlNodePtr w = xb_payload_add_text(out, "word", "%s", c[i].word);
        ok = w && xb_payload_set_attr(w, "n", "%zu", c[i].n) == 0;
    }
    free(c);
    words_free(&ws);
    if (!ok) {
        xb_payload_free(out);
        return no_memory(err, errlen);
    }
    return out;
}

/* Small and closed: the words that say little about what a text is about. */
static const char *const STOPWORDS[] = {
    "a",      "about", "above", "after",   "again",   "against", "all",     "also",    "am",
    "an",     "and",   "any",   "are",     "as",      "at",      "be",      "because", "been",
    "before", "being", "below", "between", "both",    "but",     "by",      "can",     "could",
    "did",    "do",    "does",  "doing",   "don't",   "down",    "during",  "each",    "even",
    "every",  "few",   "for",   "from",    "further", "had",     "has",     "have",    "having",
    "he",     "her",   "here",  "hers",    "herself", "him",     "himself", "his",     "how",
    "i",      "if",    "in",    "into",    "is",      "it",      "it's",    "its",     "itself",
    "just",   "me",    "more",  "most",    "my",      "myself",  "no",      "nor",     "not",
    "now",    "of",    "off",   "on",      "once",    "one",     "only",    "or",      "other",
    "our",    "ours",  "out",   "over",    "own",     "same",    "she",     "should",  "so",
    "some",   "still", "such",  "than",    "that",    "the",     "their",   "theirs",  "them",
    "then",   "there", "these", "they",    "this",    "those",   "through", "to",      "too",
    "under",  "until", "up",    "upon",    "us",      "very",    "was",     "we",      "were",
    "what",   "when",  "where", "which",   "while",   "who",     "whom",    "why",     "will",
    "with",   "would", "yet",   "you",     "your",    "yours",
};

bool textmill_stopword(const char *word)
{
    for (size_t i = 0; i < sizeof STOPWORDS / sizeof STOPWORDS[0]; i++)
        if (strcmp(STOPWORDS[i], word) == 0)
            return true;
    return false;
}

/* Numbers are no keywords: a keyword holds a letter (any byte beyond ASCII
 * belongs to one). */
static bool has_letter(const char *w)
{
    for (const unsigned char *s = (const unsigned char *)w; *s; s++)
        if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s >= 0x80)
            return true;
    return false;
}

xmlNodePtr textmill_keywords(const xmlNode *tokens, char *err, size_t errlen)
{
    words_t ws = {0};
    count_t *c;
    size_t distinct;
    if (tokens_freq(tokens, &ws, &c, &distinct, err, errlen) != 0)
        return NULL;
    xmlNodePtr out = xb_payload_new("keywords");
    bool ok = out != NULL;
    size_t taken = 0;
    for (size_t i = 0; ok && i < distinct && taken < TOP_KEYWORDS; i++) {
        if (textmill_stopword(c[i].word) || !has_letter(c[i].word))
            continue;
        ok = xb_payload_add_text(out, "keyword", "%s", c[i].word) != NULL;
        taken++;
    }
    free(c);
    words_free(&ws);
    if (!ok) {
        xb_payload_free(out);
        return no_memory(err, errlen);
    }
    return out;
}

/* ---- paragraph summarizer --------------------------------------------------- */

xmlNodePtr textmill_summarize_paragraph(const xmlNode *request, char *err, size_t errlen)
{
    if (expect(request, "the payload", "summarize-paragraph", err, errlen) != 0)
        return NULL;
    const xmlNode *p = element_from(request->children);
    if (p && element_from(p->next)) {
        failed(err, errlen, "<summarize-paragraph> holds more than one element");
        return NULL;
    }
    words_t ws = {0};
    if (paragraph_words(p, &ws, err, errlen) != 0) {
        words_free(&ws);
        return NULL;
    }
    sbuf_t b = {0};
    for (size_t i = 0; i < ws.n && i < SUMMARY_WORDS; i++)
        sbuf_add(&b, "%s%s", i ? " " : "", (const char *)ws.w[i]);
    if (ws.n > SUMMARY_WORDS)
        sbuf_add(&b, ELLIPSIS);
    xmlNodePtr out = b.oom ? NULL : xb_payload_new("paragraph-summary");
    bool ok = out && xb_payload_set_attr(out, "words", "%zu", ws.n) == 0 &&
              (ws.n == 0 || xb_payload_add_text(out, NULL, "%s", b.s));
    free(b.s);
    words_free(&ws);
    if (!ok) {
        xb_payload_free(out);
        return no_memory(err, errlen);
    }
    return out;
}

/* ---- summarizer ------------------------------------------------------------- */

/* Appends the text of n with its runs of white space made one space and
 * none at either end (a title written over several lines). */
static void add_collapsed(sbuf_t *b, const xmlNode *n)
{
    xmlChar *t = xmlNodeGetContent(n);
    if (!t)
        return (void)(b->oom = true);
    bool space = false, any = false;
    for (const char *s = (const char *)t; *s; s++) {
        if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') {
            space = any;
            continue;
        }
        sbuf_add(b, "%s%c", space ? " " : "", *s);
        space = false;
        any = true;
    }
    xmlFree(t);
}

/* The attribute words of <word_counts>, a decimal count. */
static int word_total(const xmlNode *word_counts, unsigned long long *out, char *err, size_t errlen)
{
    if (expect(word_counts, "the entry 'word_counts'", "word_counts", err, errlen) != 0)
        return -1;
    xmlChar *v = xmlGetProp(word_counts, (const xmlChar *)"words");
    const char *s = (const char *)v;
    char *end = NULL;
    errno = 0;
    *out = s && *s >= '0' && *s <= '9' ? strtoull(s, &end, 10) : 0;
    bool ok = end && *end == '\0' && errno == 0;
    xmlFree(v);
    if (!ok)
        return failed(err, errlen, "<word_counts> has no decimal words=\"N\"");
    return 0;
}

/* 0 when every element child of list is <item>; else -1 with the reason. */
static int expect_list(const xmlNode *list, const char *entry, const char *item, char *err,
                       size_t errlen)
{
    char what[80];
    snprintf(what, sizeof what, "the entry '%s'", entry);
    if (expect(list, what, entry, err, errlen) != 0)
        return -1;
    for (const xmlNode *c = element_from(list->children); c; c = element_from(c->next))
        if (!is_element(c, item))
            return failed(err, errlen, "<%s> holds <%s>, not only <%s>", entry,
                          (const char *)c->name, item);
    return 0;
}

/* The <text> of the summary: "TITLE: K paragraphs, N words. (1) s1 (2) s2". */
static void summary_text(sbuf_t *b, const xmlNode *title, unsigned long long words,
                         const xmlNode *paragraph_summaries)
{
    size_t k = 0;
    for (const xmlNode *c = element_from(paragraph_summaries->children); c;
         c = element_from(c->next))
        k++;
    if (title)
        add_collapsed(b, title);
    if (b->len == 0)
        sbuf_add(b, "Untitled");
    sbuf_add(b, ": %zu paragraph%s, %llu word%s.", k, k == 1 ? "" : "s", words,
             words == 1 ? "" : "s");
    size_t i = 0;
    for (const xmlNode *c = element_from(paragraph_summaries->children); c;
         c = element_from(c->next)) {
        sbuf_add(b, " (%zu) ", ++i);
        add_collapsed(b, c);
    }
}

xmlNodePtr textmill_summarize(const xmlNode *document, const xmlNode *word_counts,
                              const xmlNode *keywords, const xmlNode *paragraph_summaries,
                              char *err, size_t errlen)
{
    const xmlNode *title, *text;
    unsigned long long words;
    if (document_parts(document, &title, &text, err, errlen) != 0 ||
        word_total(word_counts, &words, err, errlen) != 0 ||
        expect_list(keywords, "keywords", "keyword", err, errlen) != 0 ||
        expect_list(paragraph_summaries, "paragraph_summaries", "paragraph-summary", err, errlen) !=
            0)
        return NULL;
    sbuf_t b = {0};
    summary_text(&b, title, words, paragraph_summaries);
    xmlNodePtr out = b.oom ? NULL : xb_payload_new("summary");
    bool ok = out && xb_payload_add_text(out, "text", "%s", b.s);
    free(b.s);
    for (const xmlNode *k = element_from(keywords->children); ok && k; k = element_from(k->next)) {
        xmlChar *t = xmlNodeGetContent(k);
        ok = t && xb_payload_add_text(out, "keyword", "%s", (const char *)t);
        xmlFree(t);
    }
    if (!ok) {
        xb_payload_free(out);
        return no_memory(err, errlen);
    }
    return out;
}

/* ---- the listener ----------------------------------------------------------- */

static int handle(const xb_msg_t *msg, xb_reply_t *reply, void *user)
{
    if (xb_msg_is_system_error(msg))
        return 0; /* the pump refused our answer: it has failed the pipeline already */
    textmill_step_fn step = *(textmill_step_fn *)user;
    char err[TEXTMILL_ERR_LEN] = "";
    xmlNodePtr out = step(msg, err, sizeof err);
    if (!out)
        return xb_reply_fail(reply, "%s", err);
    return xb_reply_respond(reply, out);
}

int textmill_main(int argc, char **argv, textmill_step_fn step)
{
    return xb_listener_main(argc, argv, handle, &step);
}

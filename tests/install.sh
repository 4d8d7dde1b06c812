#!/usr/bin/env bash
# tests/install.sh BUILD_DIR SOURCE_DIR LIBDIR CONFIGURED_SCHEMA_DIR
#
# The installed tree works on its own, under any prefix (docs/api.md):
#   - `cmake --install --prefix` into a temporary prefix, then the whole tree
#     moves elsewhere (pkg-config and CMake files must be relocatable);
#   - only the public headers are installed, the .pc sits in LIBDIR;
#   - the README's listener snippet compiles with -Wall -Wextra -Werror from
#     `pkg-config --cflags --libs xmlbus`, and a CMake project links
#     xmlbus::xmlbus from find_package;
#   - the hello organism, copied out of the source tree, passes `xmlbus check`
#     and runs with the installed `xmlbus` (the snippet as its greeter): one
#     greeting is answered;
#   - without the installed schemas both `xmlbus check` and `xmlbus run` fail.
# No variable points into the source or build tree while the installed
# programs run.
set -euo pipefail
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$2" && pwd)
LIBDIR=$3
CONFIGURED_SCHEMAS=$4
DEADLINE=20 # seconds for the pump to come up and for the answer

work=$(mktemp -d "${TMPDIR:-/tmp}/xmlbus-install.XXXXXX")
pump_pid=
cleanup() {
    if [ -n "$pump_pid" ] && kill -0 "$pump_pid" 2>/dev/null; then
        kill -TERM "$pump_pid" 2>/dev/null || true
        wait "$pump_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "install: FAILED: $*" >&2
    [ -s "$work/pump.log" ] && { echo "---- pump log ----" >&2; cat "$work/pump.log" >&2; }
    exit 1
}

# ---- install, then move the tree -------------------------------------------
cmake --install "$BUILD" --prefix "$work/first" >/dev/null
mv "$work/first" "$work/prefix"
P=$work/prefix
[ -f "$P/$LIBDIR/pkgconfig/xmlbus.pc" ] || fail "no xmlbus.pc in $P/$LIBDIR/pkgconfig"
[ -f "$P/$LIBDIR/cmake/xmlbus/xmlbusConfig.cmake" ] || fail "no CMake package in $P/$LIBDIR/cmake"
(cd "$SRC/include/xmlbus" && ls ./*.h) >"$work/public"
(cd "$P/include/xmlbus" && ls ./*.h) >"$work/installed"
cmp -s "$work/public" "$work/installed" ||
    fail "installed headers differ from include/xmlbus: $(diff "$work/public" "$work/installed" | tr '\n' ' ')"

export PKG_CONFIG_PATH=$P/$LIBDIR/pkgconfig
unset XMLBUS_SCHEMA_DIR XMLBUS_ENDPOINT XMLBUS_LISTENER LD_LIBRARY_PATH
libdir=$(pkg-config --variable=libdir xmlbus)
[ "$(cd "$libdir" && pwd -P)" = "$(cd "$P/$LIBDIR" && pwd -P)" ] ||
    fail "pkg-config libdir $libdir is not $P/$LIBDIR"

# ---- the README snippet, built from the installed tree -----------------------
mkdir -p "$work/hello/bin"
sed -n '/<!-- listener-snippet/,/<!-- end listener-snippet/p' "$SRC/README.md" |
    sed '1,2d;$d' | sed '$d' >"$work/snippet.c"
grep -q xb_listener_main "$work/snippet.c" || fail "no listener snippet found in README.md"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror -o "$work/hello/bin/hello-greeter" "$work/snippet.c" \
    $(pkg-config --cflags --libs xmlbus) -Wl,-rpath,"$libdir" ||
    fail "the README snippet does not compile against the installed tree"
cp "$SRC/examples/hello/shouter.c" "$work/shouter.c"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror -o "$work/hello/bin/hello-shouter" "$work/shouter.c" \
    $(pkg-config --cflags --libs xmlbus) -Wl,-rpath,"$libdir" || fail "shouter.c does not compile"

# ---- the CMake package --------------------------------------------------------
mkdir -p "$work/cmake-user"
cat >"$work/cmake-user/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.18)
project(user C)
find_package(xmlbus 0.1 REQUIRED)
add_executable(user user.c)
target_link_libraries(user PRIVATE xmlbus::xmlbus)
CMAKE
cat >"$work/cmake-user/user.c" <<'C'
#include <xmlbus/xmlbus.h>
int main(void) { return xb_code_name(XB_ERR_ROUTING)[0] == 'r' ? 0 : 1; }
C
cmake -S "$work/cmake-user" -B "$work/cmake-user/build" -DCMAKE_PREFIX_PATH="$P" \
    -DCMAKE_BUILD_TYPE=Release >"$work/cmake.log" 2>&1 &&
    cmake --build "$work/cmake-user/build" >>"$work/cmake.log" 2>&1 &&
    "$work/cmake-user/build/user" || { cat "$work/cmake.log" >&2; fail "the CMake package does not work"; }

# ---- the hello organism, outside the source tree -------------------------------
for f in organism.yaml greeter.xsd shouter.xsd greeting.xml; do
    cp "$SRC/examples/hello/$f" "$work/hello/"
done
cd "$work/hello"
export PATH=$work/hello/bin:$PATH # hello-greeter and hello-shouter
"$P/bin/xmlbus" check organism.yaml >"$work/check.out" 2>&1 ||
    { cat "$work/check.out" >&2; fail "xmlbus check failed"; }

"$P/bin/xmlbus" run organism.yaml -e 'tcp://127.0.0.1:*' --endpoint-file "$work/endpoint" \
    >"$work/pump.log" 2>&1 &
pump_pid=$!
deadline=$((SECONDS + DEADLINE))
until [ -s "$work/endpoint" ]; do
    kill -0 "$pump_pid" 2>/dev/null || fail "the installed pump exited before binding"
    [ $SECONDS -lt $deadline ] || fail "the installed pump did not bind in ${DEADLINE} s"
    sleep 0.05
done
endpoint=$(cat "$work/endpoint")
"$P/bin/xmlbus" send -e "$endpoint" --count 1 --timeout "$DEADLINE" greeting.xml \
    >"$work/send.out" 2>&1 || { cat "$work/send.out" >&2; fail "xmlbus send failed"; }
grep -q 'from greeter: <greeting-reply><text>Hello, World!</text></greeting-reply>' \
    "$work/send.out" || { cat "$work/send.out" >&2; fail "unexpected answer"; }
kill -TERM "$pump_pid"
wait "$pump_pid" || fail "the installed pump did not exit 0 on SIGTERM"
pump_pid=

# ---- without the installed schemas, check and run both fail ---------------------
if [ -d "$CONFIGURED_SCHEMAS" ]; then
    echo "install: $CONFIGURED_SCHEMAS exists, skipping the missing-schemas check"
else
    mv "$P/share/xmlbus/schemas" "$P/share/xmlbus/schemas.away"
    if "$P/bin/xmlbus" check -q organism.yaml >"$work/check.out" 2>&1; then
        fail "xmlbus check passed without the installed schemas"
    fi
    grep -q envelope.xsd "$work/check.out" || { cat "$work/check.out" >&2; fail "check did not name envelope.xsd"; }
    if timeout "$DEADLINE" "$P/bin/xmlbus" run organism.yaml -e 'tcp://127.0.0.1:*' \
        >"$work/run.out" 2>&1; then
        fail "xmlbus run started without the installed schemas"
    fi
    mv "$P/share/xmlbus/schemas.away" "$P/share/xmlbus/schemas"
fi
echo "install: ok (prefix moved after install, snippet, CMake package, hello organism)"

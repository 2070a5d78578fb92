#!/bin/sh
# valgrind.sh - LOG_COMPILER for `make check-valgrind`: runs one unit test
# under memcheck; any error or definite leak fails it.
CAIRN_UNDER_VALGRIND=1
export CAIRN_UNDER_VALGRIND
exec valgrind -q --vgdb=no --error-exitcode=99 --leak-check=full \
	--errors-for-leak-kinds=definite --show-leak-kinds=definite \
	--suppressions="$(dirname "$0")/valgrind.supp" "$@"

# cairn_plugin.m4 - one macro per plugin: --enable-NAME[=yes|no|auto]
#
# CAIRN_PLUGIN(NAME, DESCRIPTION, [DEPENDENCY-CHECKS], [MISSING-WHAT])
#
# DEPENDENCY-CHECKS runs only when the plugin is wanted; it sets
# cairn_dep_ok=no when something is missing.  With --enable-NAME=yes a
# missing dependency stops configure and names MISSING-WHAT; with =auto (the
# default) the plugin is quietly left out.  Defines the Automake conditional
# BUILD_PLUGIN_NAME, appends NAME to $cairn_built_plugins when it is built
# (configure.ac hands that list to the tests), and adds a row to the summary table that
# CAIRN_PLUGIN_SUMMARY prints.
#
# Adding a plugin is one call here and one block in Makefile.am, e.g.
#   CAIRN_PLUGIN([redis], [Redis source],
#     [PKG_CHECK_MODULES([HIREDIS], [hiredis], [], [cairn_dep_ok=no])],
#     [hiredis (Debian: libhiredis-dev)])
AC_DEFUN([CAIRN_PLUGIN], [
  AC_ARG_ENABLE([$1],
    [AS_HELP_STRING([--enable-$1@<:@=yes|no|auto@:>@],
                    [build the $1 plugin: $2 @<:@default=auto@:>@])],
    [cairn_want_$1=$enableval], [cairn_want_$1=auto])
  AS_CASE([$cairn_want_$1], [yes|no|auto], [],
    [AC_MSG_ERROR([--enable-$1=$cairn_want_$1: use yes, no or auto])])
  cairn_have_$1=no
  cairn_why_$1="disabled"
  AS_IF([test "x$cairn_want_$1" != xno], [
    cairn_dep_ok=yes
    $3
    AS_IF([test "x$cairn_dep_ok" = xyes],
      [cairn_have_$1=yes; cairn_why_$1=""],
      [AS_IF([test "x$cairn_want_$1" = xyes],
        [AC_MSG_ERROR([--enable-$1=yes but $4 is missing; install it or use --disable-$1])])
       cairn_why_$1="missing m4_default([$4], [a dependency])"])
  ])
  AM_CONDITIONAL([BUILD_PLUGIN_]m4_toupper([$1]), [test "x$cairn_have_$1" = xyes])
  AS_IF([test "x$cairn_have_$1" = xyes],
    [cairn_built_plugins="${cairn_built_plugins:+$cairn_built_plugins }$1"])
  cairn_summary_rows="$cairn_summary_rows
  m4_format([%-10s], [$1]) $cairn_have_$1 ${cairn_why_$1:+($cairn_why_$1)}"
])

# CAIRN_PLUGIN_SUMMARY - print the table of plugins at the end of configure.
AC_DEFUN([CAIRN_PLUGIN_SUMMARY], [
  cairn_sum_prefix=$prefix
  test "x$cairn_sum_prefix" = xNONE && cairn_sum_prefix=$ac_default_prefix
  cairn_sum_dir=`prefix=$cairn_sum_prefix; exec_prefix=$exec_prefix
    test "x$exec_prefix" = xNONE && exec_prefix=$prefix
    d="$libdir/$PACKAGE"
    while :; do case $d in *'$'*) eval d=\"$d\" ;; *) break ;; esac; done
    echo "$d"`
  AC_MSG_NOTICE([

cairn $PACKAGE_VERSION configured:
  prefix      $cairn_sum_prefix
  plugindir   $cairn_sum_dir

  plugin     build${cairn_summary_rows}
])
])

/* A shared library that missingdep.so links against and that the tests
 * make sure the dynamic linker cannot find. */
int cairn_testdep_answer(void);
__attribute__((visibility("default"))) int
cairn_testdep_answer(void)
{
	return 42;
}

/* A shared object without the entry symbol: not a cairn plugin. */
int cairn_plugin_entyr(void);
int
cairn_plugin_entyr(void)
{
	return 0;
}

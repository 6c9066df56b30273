/* placeholder until the store lands */
int dd_store_placeholder_(void);
int dd_store_placeholder_(void) { return 0; }

/*
 * The configuration file: an INI file read with libinih into the same
 * struct agent_options the command line fills, through the settings
 * table (settings.h).  docs/CONFIG.md describes the format.
 */
#ifndef P11A_AGENT_CONFIG_H
#define P11A_AGENT_CONFIG_H

#include <stdio.h>

#include "options.h"

#ifndef P11A_SYSCONFDIR
#define P11A_SYSCONFDIR "/etc"
#endif

/* The system-wide file, read when the user has none. */
#define CONFIG_SYSTEM_FILE P11A_SYSCONFDIR "/p11agent/agent.conf"

/*
 * Read the file opt->config_path names, or else the first of
 * $XDG_CONFIG_HOME/p11agent/agent.conf (~/.config without
 * XDG_CONFIG_HOME) and CONFIG_SYSTEM_FILE that exists (none is fine).
 * Sets opt->config_file to the file read.  Errors are printed as
 * "p11agentd: FILE:LINE: reason"; the first one stops reading.
 * Returns 0 or -1.
 */
int config_load(struct agent_options *opt);

/*
 * Print opt in the file's format (what --check-config shows): every
 * setting, the ones not set as comments saying what applies instead.
 * A pin-value in an identity URI is printed as "***".
 */
void config_print(FILE *f, const struct agent_options *opt);

#endif

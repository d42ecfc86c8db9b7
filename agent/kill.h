/*
 * p11agentd -k: stop the agent that $P11AGENT_SOCK names, as ssh-agent -k
 * does, found by the socket's peer credentials (SO_PEERCRED).
 */
#ifndef P11A_AGENT_KILL_H
#define P11A_AGENT_KILL_H

/* Seconds -k waits for the agent to exit after SIGTERM. */
#define KILL_WAIT_S 10

/*
 * Send SIGTERM to the process that listens on $P11AGENT_SOCK if it is a
 * p11agentd (a socket passed by systemd is systemd's: that agent is
 * stopped with systemctl), wait for it to exit, and print the shell
 * commands (csh syntax with csh) that unset P11AGENT_SOCK and
 * P11AGENT_PID.  Returns the exit status for main.
 */
int kill_agent(int csh);

#endif

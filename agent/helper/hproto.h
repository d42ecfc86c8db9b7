/*
 * The numbers of the helper's framing (docs/HELPER.md), for the helper
 * and for whoever speaks to it.
 */
#ifndef P11A_HELPER_HPROTO_H
#define P11A_HELPER_HPROTO_H

#define HELPER_VERSION 3u

enum helper_msg {
	H_HELLO = 0x01,
	H_LOGIN = 0x02,
	H_LOGOUT = 0x03,
	H_KEYS = 0x04,
	H_SIGN = 0x05,
	H_PROBE = 0x06,
	H_PING = 0x07,
	H_SHUTDOWN = 0x08,

	H_OK = 0x80,
	H_HELLO_REPLY = 0x81,
	H_KEYS_REPLY = 0x84,
	H_SIGNATURE = 0x85,
	H_PROBE_REPLY = 0x86,
	H_PONG = 0x87,
	H_EVENT = 0x89, /* unsolicited, id 0: a slot event */
	H_ERROR = 0xff
};

/* KEYS flags of a key */
#define H_KEY_ALWAYS_AUTHENTICATE 0x01u
#define H_KEY_NO_SIGN 0x02u
#define H_KEY_MECHS_KNOWN 0x04u

#endif

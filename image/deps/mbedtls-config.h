/*
 * mbedtls 3.6 configuration for kvmbox.
 *
 * build-mbedtls.sh installs this as mbedtls/mbedtls_config.h, so the library
 * and every user of the sysroot's headers see the same options.
 *
 * What kvmbox needs: an HTTPS server (and a client for `kvmbox ctl` and the
 * tests) with TLS 1.3 and 1.2 only, ECDHE + ECDSA on P-256 with AES-GCM or
 * ChaCha20-Poly1305; a self-signed certificate made on first boot; PBKDF2
 * for stored passwords. Everything else is off, to keep the binary and the
 * attack surface small. Anything added here changes the sysroot's cache key,
 * so the libraries are rebuilt.
 */
#ifndef KVMBOX_MBEDTLS_CONFIG_H
#define KVMBOX_MBEDTLS_CONFIG_H

/* Platform: Linux, musl, x86_64. */
#define MBEDTLS_HAVE_ASM
#define MBEDTLS_HAVE_TIME
#define MBEDTLS_HAVE_TIME_DATE          /* certificate validity checks */
#define MBEDTLS_PLATFORM_C
#define MBEDTLS_FS_IO                   /* the key and certificate live on /data */
#define MBEDTLS_NET_C                   /* plain socket I/O helpers for the client side */
#define MBEDTLS_ERROR_C                 /* mbedtls_strerror() for log lines users can read */
/* The supervisor serves several connections from several threads; PSA's key
 * store and the RNG then need locks. */
#define MBEDTLS_THREADING_C
#define MBEDTLS_THREADING_PTHREAD

/* Entropy: getrandom() only (image/deps/mbedtls-entropy.c). mbedtls would
 * otherwise open /dev/urandom under musl, which a sandbox may not have. */
#define MBEDTLS_NO_PLATFORM_ENTROPY
#define MBEDTLS_ENTROPY_HARDWARE_ALT
#define MBEDTLS_ENTROPY_C
#define MBEDTLS_CTR_DRBG_C
#define MBEDTLS_HMAC_DRBG_C             /* deterministic ECDSA: no nonce from a weak RNG */

/* Hashes and MACs: SHA-256 everywhere, SHA-384 for TLS_AES_256_GCM_SHA384
 * (SHA-384 is built on the SHA-512 code). */
#define MBEDTLS_MD_C
#define MBEDTLS_SHA256_C
#define MBEDTLS_SHA384_C
#define MBEDTLS_SHA512_C
#define MBEDTLS_HKDF_C                  /* TLS 1.3's key schedule */
#define MBEDTLS_PKCS5_C                 /* PBKDF2-HMAC for stored passwords */

/* Ciphers: AEADs only; TLS 1.3 has nothing else and 1.2 needs nothing else. */
#define MBEDTLS_CIPHER_C
#define MBEDTLS_AES_C
#define MBEDTLS_AESNI_C
#define MBEDTLS_GCM_C
#define MBEDTLS_CHACHA20_C
#define MBEDTLS_POLY1305_C
#define MBEDTLS_CHACHAPOLY_C

/* Public keys: ECDSA and ECDHE on P-256. X25519 is added for key exchange
 * only: browsers send an X25519 key share first, and without it every TLS 1.3
 * handshake would take a HelloRetryRequest round trip. */
#define MBEDTLS_BIGNUM_C
#define MBEDTLS_ECP_C
#define MBEDTLS_ECP_NIST_OPTIM
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
#define MBEDTLS_ECP_DP_CURVE25519_ENABLED
#define MBEDTLS_ECDH_C
#define MBEDTLS_ECDSA_C
#define MBEDTLS_ECDSA_DETERMINISTIC
#define MBEDTLS_PK_C
#define MBEDTLS_PK_PARSE_C
#define MBEDTLS_PK_WRITE_C
#define MBEDTLS_ASN1_PARSE_C
#define MBEDTLS_ASN1_WRITE_C
#define MBEDTLS_OID_C
#define MBEDTLS_BASE64_C
#define MBEDTLS_PEM_PARSE_C
#define MBEDTLS_PEM_WRITE_C

/* X.509: parse certificates, and write the self-signed one. */
#define MBEDTLS_X509_USE_C
#define MBEDTLS_X509_CRT_PARSE_C
#define MBEDTLS_X509_CREATE_C
#define MBEDTLS_X509_CRT_WRITE_C

/* PSA crypto: mbedtls 3.6 runs TLS 1.3 (key schedule, ECDHE, AEAD) through
 * it. Users must call psa_crypto_init() before the first handshake. No key
 * storage: kvmbox keeps its key in a file of its own. */
#define MBEDTLS_PSA_CRYPTO_C
#define MBEDTLS_PSA_KEY_STORE_DYNAMIC

/* TLS: 1.3 and 1.2, client and server. Older versions do not exist in 3.6. */
#define MBEDTLS_SSL_TLS_C
#define MBEDTLS_SSL_CLI_C
#define MBEDTLS_SSL_SRV_C
#define MBEDTLS_SSL_PROTO_TLS1_3
#define MBEDTLS_SSL_PROTO_TLS1_2
#define MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL_ENABLED
#define MBEDTLS_SSL_TLS1_3_COMPATIBILITY_MODE   /* middleboxes between browser and appliance */
#define MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA_ENABLED
#define MBEDTLS_SSL_EXTENDED_MASTER_SECRET      /* TLS 1.2 without it is open to triple handshake */
#define MBEDTLS_SSL_KEEP_PEER_CERTIFICATE       /* TLS 1.3 in 3.6 requires it */
#define MBEDTLS_SSL_SERVER_NAME_INDICATION
#define MBEDTLS_SSL_ALPN                        /* "http/1.1" for the API and WebSockets */
#define MBEDTLS_SSL_ALL_ALERT_MESSAGES          /* a peer can say why it gave up */

/* Only these suites exist in the library, so none weaker can be negotiated
 * even by a configuration mistake. */
#define MBEDTLS_SSL_CIPHERSUITES \
	MBEDTLS_TLS1_3_AES_128_GCM_SHA256, \
	MBEDTLS_TLS1_3_AES_256_GCM_SHA384, \
	MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256, \
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, \
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, \
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256

#endif /* KVMBOX_MBEDTLS_CONFIG_H */

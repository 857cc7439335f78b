"""The compiled parts of ledgerlake, both optional (without a C compiler, or OpenSSL's headers
for the first, the install still succeeds and ``fastrecords`` does the same in Python,
slower): the record rule's batch hashing (ledgerlake/_digests.c, linked to OpenSSL's
libcrypto) and the decoder of canonical plaintexts into Arrow buffers
(ledgerlake/_plaintext.c)."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("ledgerlake._digests", ["ledgerlake/_digests.c"],
                             libraries=["crypto"], optional=True),
                   Extension("ledgerlake._plaintext", ["ledgerlake/_plaintext.c"],
                             optional=True)])

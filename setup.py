"""The one compiled part of ledgerlake: the record rule's batch hashing (ledgerlake/_digests.c,
linked to OpenSSL's libcrypto). Optional: without a C compiler or OpenSSL's headers the
install still succeeds and ``fastrecords`` hashes with hashlib (same digests, slower)."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("ledgerlake._digests", ["ledgerlake/_digests.c"],
                             libraries=["crypto"], optional=True)])

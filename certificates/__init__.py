"""CA, certificate lifecycle, CRL/OCSP and key custody (SPEC §4, §8). Arrives with the Certificates issue."""

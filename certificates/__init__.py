"""CA, certificate lifecycle, CRL/OCSP and key custody."""

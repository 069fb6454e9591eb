"""The signing app's web edge: the panel's "Firma" pages (``panel``) and the public TSA (``tsa``).
The APIs' edge is ``signing.api``."""

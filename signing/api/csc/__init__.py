"""The Cloud Signature Consortium API: algorithm tables (``algorithms``), serializer fields
(``fields``), the shape of the answers (``presenters``) and the operations (``views``)."""

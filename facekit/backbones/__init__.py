"""The networks (Keras): every backbone declared in ``registry``, their builders, their published weights' readers and
download, input normalisation, and ``model`` (backbone and heads, load, freeze)."""

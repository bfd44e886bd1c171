"""Labelled images: ``Samples``, the fixed split, and a reader per dataset format (UTKFace folders, CSV files, Adience)
behind ``read_dataset``. No TensorFlow."""

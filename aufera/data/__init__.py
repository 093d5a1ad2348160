"""Reading data into aufera.

Modules:
    fera2017: finds the sessions of a FERA 2017 copy (or of a synthetic corpus
        in the same layout), parses the occurrence label files and decodes the
        videos into frames paired with their labels.

This package imports nothing on import, so that `import aufera.data` stays
cheap; import the modules themselves, e.g. `from aufera.data import fera2017`.
"""

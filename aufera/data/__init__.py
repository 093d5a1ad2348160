"""Reading data into aufera.

Modules:
    fera2017: finds the sessions of a FERA 2017 copy (or of a synthetic corpus
        in the same layout), parses the occurrence label files and decodes the
        videos into frames paired with their labels.
    video: the one video decoder (OpenCV, frames as uint8 RGB in order),
        shared by the reader and the face finder, and the video encoder that
        reads back what it wrote.
    faces: finds the face in every frame of a video (MTCNN on keyframes,
        tracking in between, a per-video cache) and cuts square grayscale
        crops.
    fera2017_dataset: the TFDS builder of the prepared dataset.
    prepare: `aufera prepare`, a FERA 2017 copy -> the TFDS dataset.
    pipeline: tf.data input pipelines from the prepared dataset.

This package imports nothing on import, so that `import aufera.data` stays
cheap; import the modules themselves, e.g. `from aufera.data import fera2017`.
"""

"""The synthetic multi-view AU corpus: aufera's embedded default data, written in the FERA 2017 layout.

Modules: `config` (SynthConfig), `photos` (the face photographs that ship in
installed packages), `identity` (subjects built from them), `actions` (AU
deformations where FACS puts them), `episodes` (AU intensity over time,
labels, head motion), `render` (the 3D head seen from the 9 views),
`writer` (videos, label files, ground truth; `aufera synth`), `preview`
(the preview figure) and `check` (MTCNN on the corpus against its ground truth).
"""

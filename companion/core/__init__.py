"""The machinery every chapter shares; nothing here imports a chapter.

`config` (scales, argument checks), `cache` (results on disk), `runtime` (devices, seeds, threads,
progress bars), `training` (the loop), `models` (transformer, MLP, batched replicas), `sweeps`
(joblib grids), `parity` (sparse-parity data and Fourier facts), `plotting` (the house style),
`explorer` (kernel-free sliders and filters), `live` (retrain panels), `tables`, `checks` (what
exercise checks share), `notebooks` (student copies), `lazy` (names imported on first use).
"""

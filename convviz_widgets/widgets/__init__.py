"""ipywidgets front ends over the engine; thin, bound by traitlets."""

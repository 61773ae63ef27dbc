"""Objects over time: the one tracker (``tracking``), object-level normality (``objects``), what
the camera's normal objects are like (``norms``), scene and track facts for the rules (``scene``,
``track_facts``) and zones (``zones``)."""

"""FG-CLIP: a CLIP model tuned on surveillance video at two levels, whole videos and regions.

The annotation format (``fgclip.json``, written by ``vigil data synth``) is a list of videos::

    {"video": "test/test_000_running.mp4",             # relative to the videos folder
     "global_caption": "The anomaly event is a person ... running ...",
     "region_captions": ["a person in a brown top running ..."],   # empty for a normal video
     "box_infos": [[{"frame": 275, "bbox": [x1, y1, x2, y2]}, ...]],  # per region, source frames
     "timestamps": [[18.3, 21.5]]}                      # or null

- :mod:`perception.fgclip.data`: the dataset. A normal video (no region captions) loads only its
  timestamped segment and gets the full-frame box on every frame, captioned by its global
  caption; an anomaly video loads whole, with each region's box placed at the sampled frames it
  is annotated on (``bbox_mask`` says which).
- :mod:`perception.fgclip.model`: a transformers ``CLIPModel``; a video's embedding is the mean of
  its frames'; a region's feature is ROI-aligned on the vision tower's projected patch-token grid
  (only for boxes the mask keeps) and averaged over its frames. Global loss: symmetric InfoNCE
  between videos and global captions of a batch; region loss: the same between regions and their
  captions; total = global + ``lambda`` x region.
- :mod:`perception.fgclip.train`: ``vigil train fgclip``, with accelerate, checkpoints and resume.

torch and transformers are imported only inside these modules (the ``train`` extra).
"""

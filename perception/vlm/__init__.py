"""Tuning the vision-language model on HIVAU-style instructions (``vigil train vlm``): LoRA, merge.

- :mod:`perception.vlm.data`: both of Vigil's instruction formats as training examples (test
  rows ``prompt``/``anwser``, one turn; train conversations ``<video>`` then judgement ->
  description -> analysis), frames sampled from each example's clip, event or video file by
  :func:`perception.sampler.sample_video_frames` (the sampler ``vigil eval predict`` uses), the
  conversation rendered with the model's own chat template and processor, and labels that keep
  only the answers' tokens.
- :mod:`perception.vlm.processor`: the model's processor; for the Qwen2-VL family an image-only
  processor when the video half cannot load (it needs torchvision, which CPU hosts may lack:
  frames are sent as images, as the served model receives them).
- :mod:`perception.vlm.train`: the LoRA loop (peft adapters on the language model, the vision
  tower frozen by default; accelerate for the device and bf16), checkpoints and resume, the dry
  run, and merging an adapter into its base for ``vllm serve``.
- :mod:`perception.vlm.tiny`: a tiny random Qwen2-VL for tests and plumbing checks.

torch, transformers and peft are imported only inside these modules (the ``train`` extra).
"""

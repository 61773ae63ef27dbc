"""Frames in: video files, streams, webcams and image folders (``video``), what every source
shares (``frame_source``), OpenCV capture (``capture``), writing MP4 (``video_writer``), sliding
windows (``windows``) and the camera's learned background (``background``)."""

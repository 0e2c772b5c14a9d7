"""Motion estimation: keypoints with Jacobians, relative motion transfer and the dense motion network."""

"""Pictures of the simulation: offscreen mp4 recording, MuJoCo's interactive viewer, and playback loops for clips and
policies. Nothing in training imports it."""

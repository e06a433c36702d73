// Package markers finds where the intro and the end credits of a
// season's TV episodes are, so that players can offer to skip them, from
// the files alone: no service is asked, no other program than ffmpeg is
// needed.
//
// # Intros
//
// An intro is audio that the episodes of a season share near their
// start. Finder.Intros fingerprints the start of each episode (the first
// 10 minutes, at most a quarter of it) with Chromaprint, through FFmpeg's
// chromaprint muxer (ffmpeg -f chromaprint -fp_format raw): one 32-bit
// item every 1,365 samples at 11,025 Hz (about 0.1238 s), each
// describing about 2.7 s of audio (Chromaprint's default algorithm,
// TEST2: frames of 4,096 samples that advance by a third of a frame;
// acoustid/chromaprint, src/fingerprinter_configuration.cpp). Each pair
// of episodes is compared as the intro-skipper plugin for Jellyfin does
// (ConfusedPolarBear/intro-skipper, ChromaprintAnalyzer.cs and
// TimeRange.cs): the items equal in both give the shifts at which the
// two may share audio; at each, items that differ in at most 6 of their
// 32 bits match, and a run of matches with gaps of at most 3.5 s is a
// shared segment. Unlike intro-skipper, a run must hold more matching
// items than not (the best-scoring stretch, each match +1, each other
// item -1), because Chromaprint's items of noise-like audio resemble one
// another: two different pink noises match in about one item of seven,
// which gaps of 3.5 s would chain into a false intro (measured: without
// this, generated episodes that share nothing "shared" about 29 s of
// their cold opens' noise); and items that
// repeat (silence, a held tone) neither count nor find shifts. A shared
// segment of 15 s to 2 minutes is an intro; each episode's intro is the
// longest it shares with another.
//
// An item describes 2.7 s of audio, so at the edges of a shared segment
// items that describe some shared and some other audio match or not
// depending on that other audio: measured on generated episodes, the
// segments the items gave began 1.7 to 2.4 s early and ended 2.2 to
// 2.6 s late. The edges are then made exact from the waveforms: the two
// episodes' audio around the segment is read again (mono, 8 kHz),
// aligned to the sample by correlation 5 s inside the segment, and
// compared in blocks of 50 ms from there outwards; the segment ends at
// the last block whose correlation is 0.5 or more. Silence (below -60
// dBFS) is no evidence either way, so a segment never starts or ends
// with silence that both episodes have. When the aligned waveforms
// disagree (correlation under 0.8: the shared audio is not the same
// recording in both), the edges stay as the items gave them.
//
// # Credits
//
// Finder.Credits looks at the last 4 minutes of each episode (at most a
// quarter of it) for two signs: audio shared with another episode's end
// (the same closing music, found and made exact as an intro is, at
// least 10 s long), and black pictures (ffmpeg's blackdetect: 90 % of a
// picture's pixels darker than 10 % brightness, as credits on black
// with their text are) lasting at least 10 s up to the end. When both
// are found and overlap, the credits start where the black starts; when
// one is, it gives them. The black pictures alone serve an episode that
// shares no music (or is alone in its season).
//
// # Accuracy and limits
//
// On generated seasons (cold opens of 23 to 87 s of noise, with or
// without a moment of black silence before the intro, a 30 s intro
// melody, 140 to 330 s of content, 40 s of credits; MP3 audio) every
// intro and credits edge was within 0.1 s of the truth, and seasons that
// share nothing got no marker. Real episodes differ: an intro whose
// audio differs between episodes (dialogue over it, another mix) is
// found where its audio is the same, with the edges left as the items
// give them (within about 2.5 s) where the waveforms disagree; an intro
// that is silent or that only some episodes have is found in those that
// share it; music shared elsewhere in the first minutes (a recap with the
// same score) can be taken for the intro if it is longer; credits with
// music of their own on pictures that are not black are not found;
// credits followed by a scene are found only by their shared music.
//
// ffmpeg runs through package mediatool: at a lower CPU and I/O
// priority, in a process group of its own that is killed when the
// caller's context is done, and with a time limit.
package markers

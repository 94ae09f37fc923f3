#!/usr/bin/env bash
# Regenerates vidpipe/demo/speech.wav and transcript.txt: the bundled demo recording.
#
# Why synthetic: the demo must be license-clean and reproducible, and flite's "slt" voice is
# free (BSD-style) and ships with Debian. transcript.txt holds the exact text spoken.
#
# Shape (what the tests rely on): 16 kHz mono 16-bit PCM, ~0.3 s of silence at both ends,
# three sentences separated by 0.6 s and 0.8 s of digital silence (so the default 3-8 s
# segmentation cuts it into at least two segments, and the mouth has a >0.5 s rest to show),
# about 8.5-9 s in total.
#
# Deterministic: flite is, and sox runs with -D (no dither), so reruns are byte-identical.
# Needs: flite, sox (Debian: apt-get install flite sox). Not run at install time.
# Usage:  vidpipe/demo/make_speech.sh            (writes next to this script)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Chosen so that pocketsphinx 5.1 (default en-us model) transcribes each sentence exactly.
sentences=(
  "This is just a short preview of your video."
  "You can check the timing of every single word."
  "If it looks good, make the full video."
)
# Silence (seconds) before sentence 1, between sentences, and after the last one.
gaps=(0.3 0.6 0.8 0.3)

silence() {  # silence <seconds> <out.wav>
  sox -D -n -r 16000 -c 1 -b 16 "$2" trim 0 "$1"
}

parts=()
silence "${gaps[0]}" "$tmp/gap0.wav"
parts+=("$tmp/gap0.wav")
for i in "${!sentences[@]}"; do
  flite -voice slt -t "${sentences[$i]}" -o "$tmp/raw$i.wav"
  # flite pads each utterance with ~0.1-0.2 s of near-silence; trim it so the gaps above are
  # the only pauses, then force the common format.
  sox -D "$tmp/raw$i.wav" -r 16000 -c 1 -b 16 "$tmp/s$i.wav" \
    silence 1 0.01 -50d reverse silence 1 0.01 -50d reverse
  parts+=("$tmp/s$i.wav")
  silence "${gaps[$((i + 1))]}" "$tmp/gap$((i + 1)).wav"
  parts+=("$tmp/gap$((i + 1)).wav")
done

sox -D "${parts[@]}" -r 16000 -c 1 -b 16 -e signed-integer "$here/speech.wav"
printf '%s\n' "${sentences[*]}" > "$here/transcript.txt"
soxi "$here/speech.wav"

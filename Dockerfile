# autoPET grand-challenge container for petseg (CPU). Build: docker build -t petseg .
# The algorithm reads /input/images/{ct,pet}/*.mha and writes
# /output/images/automated-petct-lesion-segmentation/<uuid>.mha.
FROM python:3.11-slim

# PyTorch first, so that petseg's own requirement is already met: by default the PyPI build; pass
# --build-arg TORCH_SPEC=... (with PIP_EXTRA_INDEX_URL set) for a CPU-only wheel of the same version.
ARG TORCH_SPEC=torch==2.13.0
RUN useradd --create-home algorithm && mkdir -p /opt/algorithm /input /output \
    && chown algorithm:algorithm /opt/algorithm /input /output
WORKDIR /opt/algorithm
RUN pip install --no-cache-dir "${TORCH_SPEC}"
COPY --chown=algorithm:algorithm pyproject.toml README.md /opt/algorithm/
COPY --chown=algorithm:algorithm src /opt/algorithm/src
RUN pip install --no-cache-dir /opt/algorithm

USER algorithm
ENTRYPOINT ["petseg", "--quiet", "challenge", "--input", "/input", "--output", "/output"]

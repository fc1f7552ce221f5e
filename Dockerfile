# tokenmill's image: this repository at /app with exactly what `make install` installs, in /opt/venv.
# The KubeRay RayJobs and the CronJob in deploy/ name it tokenmill:latest (`make image` builds that tag).
#
#   make image                                    # CPU (torch from PyTorch's CPU index)
#   make image TORCH_INDEX=https://download.pytorch.org/whl/cu128 IMAGE=tokenmill:cuda   # CUDA torch wheels
#
# The CUDA wheels carry their own CUDA libraries; the node needs only the NVIDIA driver (and the device plugin).
ARG PYTHON_VERSION=3.11
FROM python:${PYTHON_VERSION}-slim

ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    RAY_USAGE_STATS_ENABLED=0 \
    NUMBA_CACHE_DIR=/tmp/numba-cache \
    PATH=/opt/venv/bin:$PATH

# make runs the install recipe; gcc lets it precompile the BPE kernels ahead of time (else numba JITs them).
RUN apt-get update \
 && apt-get install -y --no-install-recommends make gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 1000 tokenmill \
 && useradd --uid 1000 --gid 1000 --create-home --home-dir /home/tokenmill tokenmill

WORKDIR /app
COPY pyproject.toml README.md Makefile ./
COPY schemas/ schemas/
COPY operators/ operators/
COPY pipelines/ pipelines/
COPY tokenmill/ tokenmill/
COPY deploy/ deploy/
RUN make install PYTHON=python VENV=/opt/venv TORCH_INDEX=${TORCH_INDEX} \
 && chown -R 1000:1000 /app

# The manifests run every pod as uid 1000 with a read-only root filesystem; Ray writes to /tmp (an emptyDir).
USER 1000:1000
CMD ["python", "pipelines/dna_bpe.py", "--help"]

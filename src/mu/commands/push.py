# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""`mu push`: a model folder checked and published to the Hub in one commit."""

import argparse


def make_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "push",
        help="check a model folder and publish it to the Hub in one commit",
        description="Check that the folder is publishable (config loads, safetensors weights and no pickles, the "
        "remote-code files named in auto_map, a model card), create the repo if needed and upload the folder as a "
        "single commit. Nothing is sent when a check fails.",
    )
    parser.add_argument("--model", required=True, help="the model folder")
    parser.add_argument("--repo-id", required=True, help="ORG/NAME on the Hub")
    parser.add_argument("--private", action="store_true", help="create the repo as private")
    parser.add_argument("--revision", help="branch to commit to (created if needed)")
    parser.add_argument("--commit-message")
    return parser


def run(args: argparse.Namespace) -> int:
    from ..hub import push_folder

    url = push_folder(args.model, args.repo_id, args.private, args.revision, args.commit_message)
    print(f"Pushed {args.model} to {args.repo_id}: {url}")
    return 0

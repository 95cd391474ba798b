"""The Dockerfile builder's front end, as a pipeline of pure functions.

    bytes ──parse()──▶ SyntaxTree ──parse_instructions()──▶ StagedDockerfile
      (parser.py)       Nodes with lines     (instructions.py)   typed, frozen
                                                               instructions
                                                               grouped in Stages
                        ShellLex (shell_words.py) + expand_instruction()
                        (expand.py) substitute variables at dispatch time.

Nothing here touches containers, images or the filesystem; every arrow can be
tested with a string.  Errors are :class:`DockerfileError` (an
``InvalidArgument``) carrying the file name and line.
"""

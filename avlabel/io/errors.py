"""Errors for bad input: each carries one line naming the file, the field and what was expected."""


class InputError(ValueError):
    """Bad input file or argument. str(error) is the one line shown to users."""


class LogError(InputError):
    """A drive log that is missing, unreadable, or not what the schema says."""

    def __init__(self, path: object, where: str, problem: str) -> None:
        self.path, self.where, self.problem = str(path), where, problem
        super().__init__(f"{path}: {where}: {problem}" if where else f"{path}: {problem}")


class LabelsError(InputError):
    """A labels file that is missing, unreadable, or does not follow avlabel.labels/1."""

    def __init__(self, path: object, where: str, problem: str) -> None:
        self.path, self.where, self.problem = str(path), where, problem
        super().__init__(f"{path}: {where}: {problem}" if where else f"{path}: {problem}")

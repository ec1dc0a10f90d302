"""Rule expressions: a small typed subset of Python's expression syntax, checked at PUT, exact.

Why not `rule-engine` or CEL (measured here, docs/rules.md has the figures): rule-engine builds
its LALR tables when imported (0.34-0.52 s of cold start) and reports no position for a type
error; the CEL engines have no decimal type (amounts would compare as doubles) and pull in
3-12 MB of dependencies (a CLI toolkit, pendulum, lark, re2). This language is parsed by
CPython's own parser (`ast`, already loaded), then only a whitelist of nodes is accepted: no
attribute access, subscripts, comprehensions, lambdas, imports or calls other than a few named
functions. Every name and operand is typed when the rule is stored, so an unknown name or a
type error is refused with its position; a number literal becomes the Decimal of its source
text, so `amount > 5000.10` compares exactly.
"""

from __future__ import annotations

import ast
import decimal
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

NUMBER, TEXT, BOOL = "number", "text", "bool"
MAX_LENGTH = 500  # characters of one expression
MAX_NODES = 120  # syntax nodes of one expression (bounds evaluation cost and nesting)
# The arithmetic of every expression: fixed here, never the thread's (mutable) context.
ARITHMETIC = decimal.Context(prec=28, rounding=decimal.ROUND_HALF_EVEN,
                             traps=[decimal.DivisionByZero, decimal.InvalidOperation,
                                    decimal.Overflow])
Env = Mapping[str, Any]
Fn = Callable[[Env], Any]


class ExpressionError(ValueError):
    """An expression refused when stored: what is wrong and where (1-based character)."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (at character {position})")
        self.message = message
        self.position = position


class EvaluationFailed(Exception):
    """An expression that could not be evaluated for one transaction (division by zero...)."""


@dataclass(frozen=True)
class Expression:
    """A checked expression: evaluate it on the variables, get a bool."""

    source: str
    names: tuple[str, ...]  # the variables it reads, in order of first use (its evidence)
    run: Fn

    def evaluate(self, env: Env) -> bool:
        try:
            return bool(self.run(env))
        except (ArithmeticError, ValueError) as exc:  # decimal's traps are ArithmeticErrors
            raise EvaluationFailed(_describe(exc)) from exc


def _describe(exc: Exception) -> str:
    if isinstance(exc, decimal.DivisionByZero | ZeroDivisionError):
        return "division by zero"
    if isinstance(exc, decimal.Overflow):
        return "number too large"
    return "invalid arithmetic"


# name -> (argument types, result type, implementation)
FUNCTIONS: dict[str, tuple[tuple[str, ...], str, Callable[..., Any]]] = {
    "abs": ((NUMBER,), NUMBER, ARITHMETIC.abs),
    "min": ((NUMBER, NUMBER), NUMBER, min),
    "max": ((NUMBER, NUMBER), NUMBER, max),
    "lower": ((TEXT,), TEXT, str.lower),
    "upper": ((TEXT,), TEXT, str.upper),
    "len": ((TEXT,), NUMBER, lambda s: Decimal(len(s))),
    "startswith": ((TEXT, TEXT), BOOL, str.startswith),
    "endswith": ((TEXT, TEXT), BOOL, str.endswith),
}
# Arithmetic goes through the fixed context; the generated code calls these by name.
_ARITH: dict[type[ast.operator], str] = {
    ast.Add: "_add", ast.Sub: "_sub", ast.Mult: "_mul", ast.Div: "_div", ast.Mod: "_mod"}
_HELPERS: dict[str, Any] = {
    "_add": ARITHMETIC.add, "_sub": ARITHMETIC.subtract, "_mul": ARITHMETIC.multiply,
    "_div": ARITHMETIC.divide, "_mod": ARITHMETIC.remainder, "_neg": ARITHMETIC.minus,
    **{f"_f_{name}": impl for name, (_, _, impl) in FUNCTIONS.items()},
}
_SYMBOL = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==",
           ast.NotEq: "!=", ast.In: "in", ast.NotIn: "not in"}
_ORDERING = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)


class _Compiler:
    """Type-checks a parsed expression and writes it as Python code over a fixed vocabulary.

    The code is generated from the checked tree only, never copied from the source: names
    become `_e["name"]` lookups, literals become entries of a constants tuple, arithmetic calls
    the fixed-context helpers. Compiled once with no builtins, it evaluates at the speed of a
    Python expression (a closure tree costs several times more per rule and transaction).
    """

    def __init__(self, source: str, variables: Mapping[str, str]) -> None:
        self.source = source
        self.variables = variables
        self.names: list[str] = []
        self.constants: list[Any] = []
        self.nodes = 0
        # column offsets are UTF-8 byte offsets per line: map them back to characters
        self.starts = _line_starts(source)

    def position(self, node: ast.expr | ast.keyword) -> int:
        line, col = node.lineno, node.col_offset
        start = self.starts[line - 1]
        chars = len(self.source[start:].encode("utf-8")[:col].decode("utf-8", "ignore"))
        return start + chars + 1

    def fail(self, node: ast.expr | ast.keyword, message: str) -> ExpressionError:
        return ExpressionError(message, self.position(node))

    def constant(self, value: Any) -> str:
        self.constants.append(value)
        return f"_c[{len(self.constants) - 1}]"

    def expect(self, node: ast.expr, wanted: str) -> str:
        kind, code = self.compile(node)
        if kind != wanted:
            raise self.fail(node, f"expected a {wanted}, found a {kind}")
        return code

    def compile(self, node: ast.expr) -> tuple[str, str]:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.fail(node, f"too complex (more than {MAX_NODES} parts)")
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            raise self.fail(node, f"{_what(node)} is not allowed in a rule")
        result: tuple[str, str] = method(node)
        return result

    def _Constant(self, node: ast.Constant) -> tuple[str, str]:
        value = node.value
        if isinstance(value, bool):
            return BOOL, "True" if value else "False"
        if isinstance(value, str):
            return TEXT, self.constant(value)
        if isinstance(value, int | float):
            text = ast.get_source_segment(self.source, node) or ""
            try:  # the literal as written, so 0.1 is exactly one tenth
                number = Decimal(text)
            except decimal.InvalidOperation:
                raise self.fail(node, f"write the number {text} in decimal digits") from None
            # finite: a Python number literal never spells inf or nan (1e999 is a finite Decimal)
            return NUMBER, self.constant(number)
        # None, ..., b"", 1j: named as written, not as the parser's class (Constant)
        raise self.fail(node, f"the literal {ast.get_source_segment(self.source, node)} "
                        "is not allowed in a rule")

    def _Name(self, node: ast.Name) -> tuple[str, str]:
        kind = self.variables.get(node.id)
        if kind is None:
            raise self.fail(node, f"unknown name {node.id!r}")
        if node.id not in self.names:
            self.names.append(node.id)
        return kind, f"_e[{node.id!r}]"  # a declared variable: [a-z_0-9]+, repr is safe

    def _BoolOp(self, node: ast.BoolOp) -> tuple[str, str]:
        joiner = " and " if isinstance(node.op, ast.And) else " or "
        return BOOL, "(" + joiner.join(self.expect(v, BOOL) for v in node.values) + ")"

    def _UnaryOp(self, node: ast.UnaryOp) -> tuple[str, str]:
        if isinstance(node.op, ast.Not):
            return BOOL, f"(not {self.expect(node.operand, BOOL)})"
        if isinstance(node.op, ast.USub | ast.UAdd):
            value = self.expect(node.operand, NUMBER)
            return NUMBER, value if isinstance(node.op, ast.UAdd) else f"_neg({value})"
        raise self.fail(node, "the operator ~ is not allowed in a rule")

    def _BinOp(self, node: ast.BinOp) -> tuple[str, str]:
        helper = _ARITH.get(type(node.op))
        if helper is None:
            raise self.fail(node, f"{_what(node.op)} is not allowed in a rule")
        left, right = self.expect(node.left, NUMBER), self.expect(node.right, NUMBER)
        return NUMBER, f"{helper}({left}, {right})"

    def _IfExp(self, node: ast.IfExp) -> tuple[str, str]:
        test = self.expect(node.test, BOOL)
        kind, yes = self.compile(node.body)
        no = self.expect(node.orelse, kind)
        return kind, f"({yes} if {test} else {no})"

    def _Call(self, node: ast.Call) -> tuple[str, str]:
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            name = node.func.id if isinstance(node.func, ast.Name) else "this"
            raise self.fail(node, f"unknown function {name!r}; use one of "
                            + ", ".join(sorted(FUNCTIONS)))
        if node.keywords:
            raise self.fail(node.keywords[0], "named arguments are not allowed in a rule")
        wanted, result, _ = FUNCTIONS[node.func.id]
        if len(node.args) != len(wanted):
            raise self.fail(node, f"{node.func.id} takes {len(wanted)} argument(s)")
        args = [self.expect(a, k) for a, k in zip(node.args, wanted, strict=True)]
        return result, f"_f_{node.func.id}({', '.join(args)})"

    def _Compare(self, node: ast.Compare) -> tuple[str, str]:
        left_kind, code = self.compile(node.left)
        parts = [code]
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            if left_kind == "":
                raise self.fail(right_node, "a membership test cannot be chained")
            if isinstance(op, ast.In | ast.NotIn):
                parts.append(f"{_SYMBOL[type(op)]} {self._members(left_kind, right_node)}")
                left_kind = ""
                continue
            right_kind, right = self.compile(right_node)
            if right_kind != left_kind:
                raise self.fail(right_node, f"cannot compare a {left_kind} with a "
                                f"{right_kind} using {_SYMBOL[type(op)]}")
            if isinstance(op, _ORDERING) and left_kind != NUMBER:
                raise self.fail(node, f"{_SYMBOL[type(op)]} compares numbers only")
            parts.append(f"{_SYMBOL[type(op)]} {right}")
        return BOOL, "(" + " ".join(parts) + ")"

    def _members(self, left_kind: str, right_node: ast.expr) -> str:
        if isinstance(right_node, ast.List | ast.Tuple | ast.Set):
            members: list[Any] = []
            for element in right_node.elts:
                kind, _ = self.compile(element)
                value = _literal(element, self.source) if kind == left_kind else None
                if value is None:
                    raise self.fail(element, f"a list to test a {left_kind} against holds "
                                    f"{left_kind} literals only")
                members.append(value)
            return self.constant(frozenset(members))
        right = self.expect(right_node, TEXT)
        if left_kind != TEXT:
            raise self.fail(right_node, "`in` tests text in text, or a value in a list")
        return right


def _literal(node: ast.expr, source: str) -> Any:
    """The value of a type-checked literal (a text, a bool, a number, a signed number), or None
    when the node is not one (a name, `not True`, `-amount`: a list holds values, not rules)."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner = _literal(node.operand, source)
        if not isinstance(inner, Decimal):
            return None
        # negated as `_neg` negates, so `x in [-n]` decides as `x == -n` does
        return ARITHMETIC.minus(inner) if isinstance(node.op, ast.USub) else inner
    if not isinstance(node, ast.Constant):
        return None
    if isinstance(node.value, bool | str):
        return node.value
    return Decimal(ast.get_source_segment(source, node) or "")  # checked: an int or a float


def _what(node: ast.AST) -> str:
    names = {"Attribute": "attribute access (.)", "Subscript": "indexing ([])",
             "ListComp": "a comprehension", "GeneratorExp": "a comprehension",
             "SetComp": "a comprehension", "DictComp": "a comprehension",
             "List": "a list outside `in [...]`", "Tuple": "a list outside `in [...]`",
             "Set": "a list outside `in [...]`", "Yield": "yield", "YieldFrom": "yield",
             "Lambda": "a lambda", "NamedExpr": "assignment (:=)", "Await": "await",
             "Starred": "*", "JoinedStr": "an f-string", "Dict": "a dict",
             "Pow": "the operator **", "FloorDiv": "the operator //",
             "BitAnd": "the operator &", "BitOr": "the operator |", "BitXor": "the operator ^",
             "LShift": "the operator <<", "RShift": "the operator >>", "MatMult": "the operator @"}
    kind = type(node).__name__
    return names.get(kind, kind)


def compile_expression(source: str, variables: Mapping[str, str]) -> Expression:
    """Check `source` against the typed `variables`; raise ExpressionError with a position."""
    if len(source) > MAX_LENGTH:
        raise ExpressionError(f"longer than {MAX_LENGTH} characters", MAX_LENGTH + 1)
    text = source.strip()
    if not text:
        raise ExpressionError("empty expression", 1)
    lead = source.index(text[0])  # positions count from the caller's first character
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"syntax error: {exc.msg}",
                              lead + _char_position(text, exc)) from None
    except (ValueError, RecursionError, MemoryError):  # a null byte; absurd nesting
        raise ExpressionError("not a valid expression", 1) from None
    compiler = _Compiler(text, variables)
    try:
        kind, code = compiler.compile(tree.body)
    except ExpressionError as exc:
        raise ExpressionError(exc.message, lead + exc.position) from None
    except RecursionError:
        raise ExpressionError("nested too deeply", 1) from None
    if kind != BOOL:
        raise ExpressionError(f"a rule must be true or false, this is a {kind}", lead + 1)
    namespace = {"__builtins__": {}, **_HELPERS, "_c": tuple(compiler.constants)}
    # `code` is written from the checked tree only (see _Compiler), never from the source text
    function = eval(compile(f"lambda _e: {code}", "<rule>", "eval"), namespace)
    return Expression(source, tuple(compiler.names), function)


def _char_position(source: str, exc: SyntaxError) -> int:
    """A SyntaxError's (line, 1-based character offset) as one 1-based character position."""
    if exc.offset == 0:  # the parser's mark for "at the end of the input" (`amount > 1 +`)
        return len(source) + 1
    starts = _line_starts(source)
    line = max(1, min(exc.lineno or 1, len(starts)))
    return starts[line - 1] + (exc.offset or 1)


def _line_starts(source: str) -> list[int]:
    """Where each line starts (0-based), its breaks counted as the parser counts them: a bare
    carriage return ends a line too (it is a line break to Python, not to `split("\\n")`)."""
    return [0, *(m.end() for m in re.finditer(r"\r\n?|\n", source))]

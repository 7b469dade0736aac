"""The GitHub simulator: dispatch through GitHub's OpenAPI description, auth, and git data kept in
a real bare repository (checked with the git CLI itself)."""

from __future__ import annotations

import base64
import time

import aiohttp
import jwt
from gidgethub import InvalidField
from gidgethub.aiohttp import GitHubAPI

from app.clock import ManualClock
from sim.github.repo import SimRepo
from sim.github.server import GitHubSim
from tests.sim.conftest import Api


def app_jwt(sim: GitHubSim, now: float, *, iss: str | None = None, lifetime: int = 540) -> str:
    payload = {"iat": int(now) - 60, "exp": int(now) + lifetime, "iss": iss or str(sim.app_id)}
    return jwt.encode(payload, sim.app_private_key, algorithm="RS256")


# --- git data ------------------------------------------------------------------------------------


async def test_tree_commit_ref_through_the_api_are_real_git_objects(
    api: Api, repo: SimRepo
) -> None:
    base = repo.commit({"keep.txt": "keep\n", "old/gone.txt": "bye\n"}, "Base")
    base_tree = (await api.get(f"/repos/octo/widgets/git/commits/{base}")).body["tree"]["sha"]
    blob = await api.post(
        "/repos/octo/widgets/git/blobs",
        {"content": base64.b64encode(b"\x00bin").decode(), "encoding": "base64"},
    )
    assert blob.status == 201

    tree = await api.post(
        "/repos/octo/widgets/git/trees",
        {
            "base_tree": base_tree,
            "tree": [
                {"path": "a/b/c.txt", "mode": "100644", "type": "blob", "content": "deep\n"},
                {"path": "bin/tool", "mode": "100755", "type": "blob", "sha": blob.body["sha"]},
                {"path": "old/gone.txt", "mode": "100644", "type": "blob", "sha": None},
            ],
        },
    )
    assert tree.status == 201
    commit = await api.post(
        "/repos/octo/widgets/git/commits",
        {
            "message": "Nested add, delete",
            "tree": tree.body["sha"],
            "parents": [base],
            "author": {"name": "Ada", "email": "ada@example.com", "date": "2026-01-02T03:04:05Z"},
        },
    )
    assert commit.status == 201
    sha = commit.body["sha"]
    ref = await api.post("/repos/octo/widgets/git/refs", {"ref": "refs/heads/topic", "sha": sha})
    assert ref.status == 201 and ref.body["object"]["sha"] == sha

    listing = repo.git("ls-tree", "-r", "--format=%(objectmode) %(path)", "topic").split("\n")
    assert [line for line in listing if line] == [
        "100644 README.md",
        "100644 a/b/c.txt",
        "100755 bin/tool",
        "100644 keep.txt",
    ]
    assert repo.git("rev-parse", "topic^").strip() == base
    assert repo.git("log", "-1", "--format=%an <%ae> %aI %s", "topic").strip() == (
        "Ada <ada@example.com> 2026-01-02T03:04:05+00:00 Nested add, delete"
    )
    assert repo.git("cat-file", "-p", f"{sha}:bin/tool") == "\x00bin"

    recursive = await api.get(f"/repos/octo/widgets/git/trees/{tree.body['sha']}?recursive=1")
    paths = {(e["path"], e["type"]) for e in recursive.body["tree"]}
    assert {("a", "tree"), ("a/b", "tree"), ("a/b/c.txt", "blob")} <= paths


async def test_deleting_a_path_absent_from_base_tree_is_422(api: Api, repo: SimRepo) -> None:
    base_tree = repo.git("rev-parse", "main^{tree}").strip()
    absent = await api.post(
        "/repos/octo/widgets/git/trees",
        {
            "base_tree": base_tree,
            "tree": [{"path": "no/such.txt", "mode": "100644", "type": "blob", "sha": None}],
        },
    )
    assert absent.status == 422
    # Leaving out "sha" (instead of sending null) is GitHub's other classic 422.
    missing = await api.post(
        "/repos/octo/widgets/git/trees",
        {"base_tree": base_tree, "tree": [{"path": "README.md", "mode": "100644", "type": "blob"}]},
    )
    assert missing.status == 422
    assert missing.body["message"].startswith("Must supply either tree.sha or tree.content")


async def test_existing_ref_is_422_without_errors_array(sim: GitHubSim, repo: SimRepo) -> None:
    token = sim.installation_token(1)
    async with aiohttp.ClientSession() as session:
        gh = GitHubAPI(session, "test", oauth_token=token, base_url=sim.url)
        try:
            await gh.post(
                "/repos/octo/widgets/git/refs", data={"ref": "refs/heads/main", "sha": repo.head()}
            )
        except InvalidField as error:
            assert error.status_code == 422
            assert error.errors is None
            assert "Reference already exists" in str(error)
        else:  # pragma: no cover
            raise AssertionError("creating an existing ref must fail")


async def test_ref_updates_check_fast_forward_and_delete(api: Api, repo: SimRepo) -> None:
    first = repo.head()
    second = repo.commit({"x": "1"}, "Two")
    side = repo.commit({"y": "1"}, "Side", parents=[first], branch="side")
    ff = await api.patch("/repos/octo/widgets/git/refs/heads/side", {"sha": second})
    assert ff.status == 422 and ff.body["message"] == "Update is not a fast forward"
    forced = await api.patch(
        "/repos/octo/widgets/git/refs/heads/side", {"sha": second, "force": True}
    )
    assert forced.status == 200 and repo.head("side") == second
    got = await api.get("/repos/octo/widgets/git/ref/heads/side")
    assert got.body["object"]["sha"] == second
    matching = await api.get("/repos/octo/widgets/git/matching-refs/heads/")
    assert {r["ref"] for r in matching.body} == {"refs/heads/main", "refs/heads/side"}
    assert (await api.delete("/repos/octo/widgets/git/refs/heads/side")).status == 204
    assert (await api.get("/repos/octo/widgets/git/ref/heads/side")).status == 404
    assert side not in repo.git("for-each-ref")


async def test_commits_compare_and_contents(api: Api, repo: SimRepo, sim: GitHubSim) -> None:
    sim.add_user("ada", name="Ada", email="ada@example.com")
    base = repo.head()
    one = repo.commit({"src/a.py": "a = 1\n"}, "Add a", author="ada")
    two = repo.commit({"src/a.py": "a = 2\n", "README.md": None}, "Change a", author="ada")

    commit = await api.get(f"/repos/octo/widgets/commits/{two}")
    assert commit.body["parents"][0]["sha"] == one
    assert commit.body["author"]["login"] == "ada"
    assert {(f["filename"], f["status"]) for f in commit.body["files"]} == {
        ("src/a.py", "modified"),
        ("README.md", "removed"),
    }

    compare = await api.get(f"/repos/octo/widgets/compare/{base}...{two}")
    assert (compare.body["status"], compare.body["ahead_by"], compare.body["behind_by"]) == (
        "ahead",
        2,
        0,
    )
    assert [c["sha"] for c in compare.body["commits"]] == [one, two]
    assert {f["filename"] for f in compare.body["files"]} == {"src/a.py", "README.md"}

    page = await api.get("/repos/octo/widgets/commits?per_page=2")
    assert [c["sha"] for c in page.body] == [two, one]
    assert 'rel="next"' in page.headers["Link"]
    nxt = await api.get("/repos/octo/widgets/commits?per_page=2&page=2")
    assert [c["sha"] for c in nxt.body] == [base]

    content = await api.get(f"/repos/octo/widgets/contents/src/a.py?ref={one}")
    assert base64.b64decode(content.body["content"]) == b"a = 1\n"
    assert (await api.get("/repos/octo/widgets/contents/README.md")).status == 404


# --- dispatch, auth, tokens ----------------------------------------------------------------------


async def test_unknown_request_is_refused_and_recorded(api: Api, sim: GitHubSim) -> None:
    unknown = await api.get("/repos/octo/widgets/no-such-thing")
    assert unknown.status == 404
    assert any("no-such-thing" in v for v in sim.violations)
    bad_body = await api.post("/repos/octo/widgets/issues", {"title": "x", "labels": "oops"})
    assert bad_body.status == 422
    assert any("labels" in v for v in sim.violations)
    unsimulated = await api.post("/repos/octo/widgets/forks", {})
    assert unsimulated.status == 501
    assert "not simulated: POST /repos/{owner}/{repo}/forks" in sim.violations
    assert sim.calls["GET /repos/{owner}/{repo}/no-such-thing"] == 0
    assert sim.call_log[-1] == ("POST", "/repos/octo/widgets/forks", 501)


async def test_app_jwt_then_installation_token(
    sim: GitHubSim, repo: SimRepo, clock: ManualClock
) -> None:
    async with aiohttp.ClientSession() as session:
        gh = GitHubAPI(session, "test", base_url=sim.url)
        token_jwt = app_jwt(sim, clock.now())
        installations = await gh.getitem("/app/installations", jwt=token_jwt)
        assert [i["id"] for i in installations] == [1]
        issued = await gh.post("/app/installations/1/access_tokens", data=b"", jwt=token_jwt)
        token = issued["token"]
        assert token.startswith("ghs_") and len(token) >= 40
        assert issued["expires_at"] == time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime(clock.now() + 3600)
        )
        repos = await gh.getitem("/installation/repositories", oauth_token=token)
        assert [r["full_name"] for r in repos["repositories"]] == ["octo/widgets"]
        assert sim.issued_tokens == [token]

        api = Api(sim, session, token)
        ok = await api.get("/repos/octo/widgets")
        assert ok.status == 200 and int(ok.headers["x-ratelimit-remaining"]) < 5000
        clock.advance(3601)
        expired = await api.get("/repos/octo/widgets")
        assert expired.status == 401 and expired.body["message"] == "Bad credentials"
        assert (await api.get("/app", raw_auth=f"Bearer {token_jwt}")).status == 401  # stale JWT


async def test_bad_app_jwts_are_401(sim: GitHubSim, repo: SimRepo, clock: ManualClock) -> None:
    async with aiohttp.ClientSession() as session:
        api = Api(sim, session, "")
        now = clock.now()
        wrong_iss = app_jwt(sim, now, iss="999")
        too_long = app_jwt(sim, now, lifetime=3600)
        forged = jwt.encode(
            {"iat": int(now), "exp": int(now) + 60, "iss": str(sim.app_id)},
            "not-the-app-key-but-long-enough-for-hs256",
            algorithm="HS256",
        )
        for bad in (wrong_iss, too_long, forged):
            answer = await api.get("/app", raw_auth=f"Bearer {bad}")
            assert answer.status == 401
        token_as_jwt = await api.get("/app", raw_auth=f"token {sim.installation_token()}")
        assert token_as_jwt.status == 401
        good = await api.get("/app", raw_auth=f"Bearer {app_jwt(sim, now)}")
        assert good.status == 200 and good.body["slug"] == "buildsheriff"


async def test_personal_token_and_injected_failures(sim: GitHubSim, repo: SimRepo) -> None:
    async with aiohttp.ClientSession() as session:
        api = Api(sim, session, sim.create_token("octocat"))
        me = await api.get("/user")
        assert me.body["login"] == "octocat"
        sim.inject("GET", "/repos/{owner}/{repo}", status=502, times=1)
        assert (await api.get("/repos/octo/widgets")).status == 502
        assert (await api.get("/repos/octo/widgets")).status == 200
        assert sim.calls["GET /repos/{owner}/{repo}"] == 2
        assert (await api.get("/repos/octo/widgets", raw_auth="token nope")).status == 401


async def test_rate_limit_is_counted_per_installation_and_enforced(
    api: Api, sim: GitHubSim, clock: ManualClock
) -> None:
    sim.rate_limit = 3
    remaining = []
    for _ in range(3):
        answer = await api.get("/repos/octo/widgets")
        remaining.append(answer.headers["x-ratelimit-remaining"])
    assert remaining == ["2", "1", "0"]
    spent = await api.get("/repos/octo/widgets")
    assert spent.status == 403 and spent.headers["x-ratelimit-remaining"] == "0"
    assert spent.body["message"] == "API rate limit exceeded for installation ID 1."
    # The budget is the installation's, whichever of its tokens is used; a person has their own.
    assert (await api.get("/repos/octo/widgets", token=sim.installation_token(1))).status == 403
    assert (await api.get("/repos/octo/widgets", token=sim.create_token("ada"))).status == 200
    clock.advance(3600)
    assert (await api.get("/repos/octo/widgets", token=sim.installation_token(1))).status == 200


async def test_app_permissions_and_roles_are_enforced(sim: GitHubSim, repo: SimRepo) -> None:
    sim.app_permissions = {"contents": "read", "issues": "write", "metadata": "read"}
    async with aiohttp.ClientSession() as session:
        app = Api(sim, session, sim.installation_token(1))
        refused = await app.post(
            "/repos/octo/widgets/git/refs", {"ref": "refs/heads/x", "sha": repo.head()}
        )
        assert refused.status == 403
        assert refused.body["message"] == "Resource not accessible by integration"
        assert (await app.get(f"/repos/octo/widgets/commits/{repo.head()}")).status == 200
        assert (await app.post("/repos/octo/widgets/issues", {"title": "ok"})).status == 201
        assert (await app.get("/repos/octo/widgets/branches/main/protection")).status == 403

        repo.set_permission("reader", "read")
        reader = Api(sim, session, sim.create_token("reader"))
        assert (
            await reader.post("/repos/octo/widgets/issues/1/comments", {"body": "me too"})
        ).status == 201
        assert (
            await reader.post("/repos/octo/widgets/issues/1/labels", {"labels": ["x"]})
        ).status == 403
        assert (
            await reader.post(
                "/repos/octo/widgets/git/refs", {"ref": "refs/heads/x", "sha": repo.head()}
            )
        ).status == 403


async def test_a_recursive_listing_stops_at_seven_megabytes_and_says_so(
    api: Api, repo: SimRepo, sim: GitHubSim
) -> None:
    """GitHub: "100,000 entries with a maximum size of 7 MB"; any value of `recursive`
    (even 0 or false) asks for the recursive listing."""
    repo.commit({f"d{i}/f{j}.txt": f"{i}.{j}\n" for i in range(10) for j in range(10)}, "Many")
    whole = await api.get("/repos/octo/widgets/git/trees/main?recursive=0")
    assert whole.body["truncated"] is False
    assert len(whole.body["tree"]) >= 110
    one_level = await api.get("/repos/octo/widgets/git/trees/main")
    assert all("/" not in e["path"] for e in one_level.body["tree"])
    sim.recursive_tree_bytes = 5_000
    cut = await api.get("/repos/octo/widgets/git/trees/main?recursive=1")
    assert cut.body["truncated"] is True
    assert 0 < len(cut.body["tree"]) < len(whole.body["tree"])


async def test_graphql_blob_text_is_cut_at_512000_bytes_and_null_when_binary(
    api: Api, repo: SimRepo
) -> None:
    repo.commit({"big.txt": "x" * 600_000, "bin.dat": b"\x00\x01", "ok.txt": "ok\n"}, "Blobs")
    shas = {
        name: repo.git("rev-parse", f"main:{name}").strip()
        for name in ("big.txt", "bin.dat", "ok.txt")
    }
    fields = " ".join(
        f'{name.split(".")[0]}: object(oid: "{sha}") {{'
        " ... on Blob { oid byteSize isBinary isTruncated text } }"
        for name, sha in shas.items()
    )
    answer = await api.graphql(f'{{ repository(owner: "octo", name: "widgets") {{ {fields} }} }}')
    found = answer.body["data"]["repository"]
    assert found["ok"] == {"oid": shas["ok.txt"], "byteSize": 3, "isBinary": False,
                           "isTruncated": False, "text": "ok\n"}
    assert found["big"]["isTruncated"] is True
    assert len(found["big"]["text"]) == 512_000
    assert found["bin"]["isBinary"] is True and found["bin"]["text"] is None


async def test_graphql_object_takes_a_rev_colon_path_expression(api: Api, repo: SimRepo) -> None:
    """`Repository.object(expression:)` is "a Git revision expression suitable for
    rev-parse": `main:docs/CODEOWNERS` is the blob at that path; absent paths are null."""
    repo.commit({"docs/CODEOWNERS": "* @mona\n"}, "Owners")
    query = (
        '{ repository(owner: "octo", name: "widgets") {'
        ' here: object(expression: "main:docs/CODEOWNERS") { ... on Blob { text } }'
        ' dir: object(expression: "main:docs") { __typename }'
        ' none: object(expression: "main:.github/CODEOWNERS") { ... on Blob { text } }'
        ' nobranch: object(expression: "nope:docs/CODEOWNERS") { __typename } } }'
    )
    found = (await api.graphql(query)).body["data"]["repository"]
    assert found == {"here": {"text": "* @mona\n"}, "dir": {"__typename": "Tree"},
                     "none": None, "nobranch": None}


async def test_graphql_answers_what_it_can_beside_a_repository_it_cannot_see(
    api: Api, repo: SimRepo
) -> None:
    """GitHub answers a query in part: a repository the token cannot see is null under its
    alias, with an error of type NOT_FOUND whose `path` names that alias; the rest is data.
    `HEAD:<path>` reads the default branch."""
    repo.commit({".github/buildsheriff.yml": "max_walk: 3\n"}, "Config")
    query = (
        '{ repo: repository(owner: "octo", name: "widgets") {'
        ' object(expression: "HEAD:.github/buildsheriff.yml") { ... on Blob { text } } }'
        ' org: repository(owner: "octo", name: ".github") {'
        ' object(expression: "HEAD:.github/buildsheriff.yml") { ... on Blob { text } } } }'
    )
    answer = await api.graphql(query)
    assert answer.status == 200
    assert answer.body["data"] == {"repo": {"object": {"text": "max_walk: 3\n"}}, "org": None}
    (error,) = answer.body["errors"]
    assert error["type"] == "NOT_FOUND" and error["path"] == ["org"]
    assert error["message"] == "Could not resolve to a Repository with the name 'octo/.github'."
    assert error["locations"]

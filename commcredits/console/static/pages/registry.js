// The console's pages, in navigation order. Adding a page: write pages/<name>.js exporting
// { path, title, nav?, requiresSession?, render(main, ctx) } (render may return a cleanup
// function), import it here, and add its path to PAGES in commcredits/console/__init__.py so
// the server serves the index for it (a test checks both lists agree).
import addCredits from "./add-credits.js";
import autoRecharge from "./auto-recharge.js";
import billing from "./billing.js";
import credits from "./credits.js";
import signIn from "./sign-in.js";
import users from "./users.js";
import user from "./user.js";
import licenses from "./licenses.js";
import calls from "./calls.js";
import activity from "./activity.js";

// "/" has no view of its own: it is the credits page's address for now.
const home = {
  path: "/",
  title: "credits.title",
  render(_main, ctx) {
    ctx.navigate("/credits", { replace: true });
  },
};

export const pages = [
  home,
  signIn,
  credits,
  addCredits,
  autoRecharge,
  billing,
  users,
  user,
  licenses,
  calls,
  activity,
];

/**
 * coprod: tell the coprod webhook app that a new form response has arrived in this spreadsheet.
 *
 * The app then re-checks the project and writes any new flags back into the spreadsheet within
 * seconds, instead of waiting for the nightly sync. Only WHERE the new row is (spreadsheet, tab,
 * row number) is sent, never the answers in it: the app reads the sheet itself.
 *
 * Set up (once, by the person who owns the spreadsheet; step 7 of the recipe's README says more):
 * 1. In the spreadsheet: Extensions > Apps Script. Delete what is in Code.gs, paste this whole
 *    file in its place, and press the save icon.
 * 2. Project Settings (the cog on the left) > Script Properties > Add script property, twice:
 *      COPROD_WEBHOOK_URL      https://your-server.example.org/hooks/sheets/our-coproduction-group
 *                              (the server's address, then /hooks/sheets/, then the name = line at
 *                              the top of recipe.toml: our-coproduction-group unless you changed it)
 *      COPROD_WEBHOOK_SECRET   whsec_...  (the same value as COPROD_WEBHOOK_SECRET in the .env
 *                              beside the recipe on the server)
 *    Press Save script properties.
 * 3. Back in the editor (the < > icon), choose installCoprodTrigger in the list next to Run, press
 *    Run, and allow what it asks (if Google says it has not verified the app: Advanced, then Go to
 *    the project). The log at the bottom says "coprod trigger installed".
 * Each form response is then sent on; Executions (the list icon on the left) shows each run, with
 * coprod's message if the webhook app refused it.
 *
 * Each notice is signed as Standard Webhooks says (headers webhook-id, webhook-timestamp and
 * webhook-signature "v1,<base64 HMAC-SHA256 of id.timestamp.body>"), so the app can tell it came
 * from this script and was not replayed. Writes the app makes do not fire the trigger again.
 */

var COPROD_HANDLER = 'coprodOnFormSubmit';
var COPROD_RETRY_SECONDS = [0, 2, 5];

/**
 * Run once from the editor: adds the "on form submit" trigger (again running it changes nothing).
 * The editor's execution log shows only what is logged, not what a function returns: say it there.
 */
function installCoprodTrigger() {
  coprodConfig_(); // fail now, in front of the person, if the properties are missing
  var spreadsheet = SpreadsheetApp.getActiveSpreadsheet();
  var installed = ScriptApp.getProjectTriggers().some(function (trigger) {
    return trigger.getHandlerFunction() === COPROD_HANDLER;
  });
  if (!installed) {
    ScriptApp.newTrigger(COPROD_HANDLER).forSpreadsheet(spreadsheet).onFormSubmit().create();
  }
  var said = installed ? 'coprod trigger was already installed' : 'coprod trigger installed';
  console.log(said);
  return said;
}

/** The installable onFormSubmit trigger: sends a signed notice about the new row. */
function coprodOnFormSubmit(e) {
  var config = coprodConfig_();
  var sheet = e.range.getSheet();
  var notice = {
    type: 'sheets.form_submit',
    spreadsheet_id: sheet.getParent().getId(),
    sheet: sheet.getName(),
    row: e.range.getRow()
  };
  var request = coprodSignedRequest_(
    config.url,
    config.secret,
    coprodAsciiJson_(notice),
    'msg_' + Utilities.getUuid(),
    Math.floor(Date.now() / 1000)
  );
  return coprodSend_(request);
}

function coprodConfig_() {
  var properties = PropertiesService.getScriptProperties();
  var url = properties.getProperty('COPROD_WEBHOOK_URL');
  var secret = properties.getProperty('COPROD_WEBHOOK_SECRET');
  if (!url || !secret) {
    throw new Error('coprod: add COPROD_WEBHOOK_URL and COPROD_WEBHOOK_SECRET in Project Settings > Script Properties');
  }
  if (secret.indexOf('whsec_') !== 0) {
    throw new Error('coprod: COPROD_WEBHOOK_SECRET must start with whsec_ (copy it from the server .env)');
  }
  return { url: url, secret: secret };
}

/**
 * JSON with every character beyond ASCII written as a \u escape (a tab named "Réponses" stays
 * readable to the app), so the bytes signed and sent do not depend on a character set.
 */
function coprodAsciiJson_(value) {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, function (c) {
    return '\\u' + ('000' + c.charCodeAt(0).toString(16)).slice(-4);
  });
}

/**
 * The Standard Webhooks signature: HMAC-SHA256, keyed with the base64-decoded part of the secret
 * after "whsec_", over the UTF-8 bytes of "<webhook-id>.<webhook-timestamp>.<body>".
 */
function coprodSign_(secret, msgId, timestamp, body) {
  var key = Utilities.base64Decode(secret.substring('whsec_'.length));
  var signed = Utilities.newBlob(msgId + '.' + timestamp + '.' + body).getBytes();
  var mac = Utilities.computeHmacSha256Signature(signed, key);
  // mac holds Java bytes (-128..127): base64Encode takes them as they are. Only a hex string
  // would need each byte masked with & 0xff first.
  return 'v1,' + Utilities.base64Encode(mac);
}

/** The request UrlFetchApp sends: the body as the exact UTF-8 bytes that were signed. */
function coprodSignedRequest_(url, secret, body, msgId, timestamp) {
  return {
    url: url,
    options: {
      method: 'post',
      contentType: 'application/json',
      payload: Utilities.newBlob(body).getBytes(),
      headers: {
        'webhook-id': msgId,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': coprodSign_(secret, msgId, timestamp, body)
      },
      muteHttpExceptions: true,
      followRedirects: false
    }
  };
}

/** The reason the webhook app gives in its JSON answer ({"error": "..."}), or ''. */
function coprodReason_(response) {
  try {
    var answer = JSON.parse(response.getContentText());
    return answer && typeof answer.error === 'string' ? answer.error : '';
  } catch (err) {
    return '';
  }
}

/**
 * What to do about a refusal, from the app's reason. The app never puts a secret in its answer,
 * and this never prints the secret either.
 */
function coprodAdvice_(code, reason) {
  if (code === 401 && reason.indexOf('timestamp') !== -1) {
    return 'the time on the notice is more than 5 minutes away from the clock of the server coprod runs on. ' +
      'Google\'s clock is right, so the server\'s clock is wrong: ask whoever runs the server to set it ' +
      'to keep the time automatically (for example: timedatectl set-ntp true). The URL and secret are fine.';
  }
  if (code === 401) {
    return 'the signature does not match (' + (reason || 'bad signature') + '): COPROD_WEBHOOK_SECRET here must ' +
      'be exactly the COPROD_WEBHOOK_SECRET in the .env beside the recipe on the server (copy it again, no spaces).';
  }
  if (code === 404 && reason === 'webhooks are not set up for this recipe') {
    return 'the server has no secret for this recipe: add COPROD_WEBHOOK_SECRET to the .env beside the recipe ' +
      'on the server, remove the # before [webhook] and secret_env in recipe.toml, and restart the webhook app.';
  }
  if (code === 404) {
    return 'no recipe of that name on the server (' + (reason || 'not found') + '): COPROD_WEBHOOK_URL must end ' +
      'with /hooks/sheets/ and the name = line of recipe.toml, and the server\'s COPROD_RECIPES must include ' +
      'the recipe\'s folder.';
  }
  return (reason ? 'the app said: ' + reason + '. ' : '') +
    'Check COPROD_WEBHOOK_URL, and ask whoever runs the server to look at the webhook app\'s log.';
}

/**
 * Send, retrying a busy or unreachable server briefly with the same webhook-id (the app ignores
 * a second copy). If it still fails, the nightly sync picks the response up anyway.
 */
function coprodSend_(request) {
  for (var i = 0; i < COPROD_RETRY_SECONDS.length; i++) {
    if (COPROD_RETRY_SECONDS[i] > 0) {
      Utilities.sleep(COPROD_RETRY_SECONDS[i] * 1000);
    }
    var response;
    try {
      response = UrlFetchApp.fetch(request.url, request.options);
    } catch (err) {
      console.warn('coprod: the webhook app could not be reached (' + err.message + ')');
      continue;
    }
    var code = response.getResponseCode();
    if (code < 300) {
      return code;
    }
    if ([429, 502, 503, 504].indexOf(code) === -1) {
      console.warn('coprod: the webhook app refused the notice (HTTP ' + code + '): ' +
        coprodAdvice_(code, coprodReason_(response)));
      return code;
    }
  }
  console.warn('coprod: the webhook app is busy; the nightly sync will pick this response up');
  return 0;
}

<?php
/**
 * coprod notify: after a panel record is saved, POST a signed {entity, id, action} to the coprod
 * webhook app, which re-checks the recipe and writes back only what changed.
 *
 * Signed in the Standard Webhooks scheme (headers webhook-id, webhook-timestamp, webhook-signature;
 * signature = base64(HMAC-SHA256(secret, "id.timestamp.body")), secret = base64 after "whsec_").
 * Configure in civicrm.settings.php (never in the database or in code):
 *   define('COPROD_WEBHOOK_URL', 'https://coprod.example.org/hooks/civicrm/civicrm-panel');
 *   define('COPROD_WEBHOOK_SECRET', 'whsec_...');   // the same value as CIVICRM_WEBHOOK_SECRET in coprod's .env
 *
 * The notice: {"entity": "Participant", "id": 33, "action": "edit"}. "action" is CiviCRM's own
 * operation name: create, edit (any save of an existing record, custom fields only included) or
 * delete. For GroupContact, "id" is the group membership's id, not the contact's.
 *
 * It never breaks a save: errors are logged and the nightly sync catches up. The POST is made
 * while CiviCRM finishes the save, so a slow webhook app delays the save by up to the 5 s timeout.
 */

use GuzzleHttp\Client;

/** Only these records matter to coprod; Activities are left out so coprod's own flags never loop back. */
const COPROD_NOTIFY_ENTITIES = ['Individual', 'Contact', 'Event', 'Participant', 'Contribution', 'Campaign', 'GroupContact'];

/**
 * Implements hook_civicrm_postCommit(): runs after the database transaction has committed, so the
 * webhook app reads what was saved.
 */
function coprod_notify_civicrm_postCommit($op, $objectName, $objectId, &$objectRef) {
  if (!defined('COPROD_WEBHOOK_URL') || !defined('COPROD_WEBHOOK_SECRET')) {
    return;
  }
  if (!in_array($objectName, COPROD_NOTIFY_ENTITIES, TRUE) || !in_array($op, ['create', 'edit', 'delete'], TRUE)) {
    return;
  }
  if (!is_numeric($objectId) || (int) $objectId < 1) {
    return;
  }
  $entity = $objectName === 'Individual' ? 'Contact' : $objectName;
  $body = json_encode(['entity' => $entity, 'id' => (int) $objectId, 'action' => $op]);
  $msgId = 'msg_' . bin2hex(random_bytes(12));
  $timestamp = (string) time();
  $secret = base64_decode(preg_replace('/^whsec_/', '', COPROD_WEBHOOK_SECRET));
  $signature = base64_encode(hash_hmac('sha256', "$msgId.$timestamp.$body", $secret, TRUE));
  try {
    (new Client(['timeout' => 5]))->post(COPROD_WEBHOOK_URL, [
      'body' => $body,
      'headers' => [
        'Content-Type' => 'application/json',
        'webhook-id' => $msgId,
        'webhook-timestamp' => $timestamp,
        'webhook-signature' => "v1,$signature",
      ],
    ]);
  }
  catch (\Throwable $e) {
    // Say what failed, never the secret or the record's contents.
    \Civi::log()->warning('coprod notify: could not reach the webhook app (' . get_class($e) . ')');
  }
}
